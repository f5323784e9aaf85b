/** Helpers of the deploy/ tests: the chart rendered by helm, YAML streams as objects, kubectl against the stack. */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { helmPath } from '../../tools/stack';
import { stackEnv } from './env';

export const ROOT = resolve(__dirname, '..', '..');
export const CHART = join(ROOT, 'deploy', 'helm', 'backupentry-lifecycle');
const run = promisify(execFile);

/** A Kubernetes object as far as these tests look at it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** Parses a multi-document YAML stream into the objects it holds (empty documents skipped). */
export function objectsOf(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o);
}

/** Runs helm (from the tool cache); resolves to stdout. */
export async function helm(...args: string[]): Promise<string> {
  return (await run(helmPath(), args, { cwd: ROOT, maxBuffer: 16 << 20 })).stdout;
}

/** Runs the stack's kubectl with the stack's admin kubeconfig (plus `args`); resolves to both streams. */
export async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(stackEnv('KUBECTL'), ['--kubeconfig', stackEnv('KUBECONFIG'), ...args], { maxBuffer: 16 << 20 });
}

/**
 * `helm template` of the chart as release `backupentry-lifecycle` in namespace `backupentry-lifecycle`, for the seed
 * `clusterIdentity`, with further `helm` arguments (e.g. `--set`, `--show-only`).
 */
export function renderChart(clusterIdentity: string, ...args: string[]): Promise<string> {
  return helm(
    'template',
    'backupentry-lifecycle',
    CHART,
    '--namespace',
    'backupentry-lifecycle',
    '--set',
    `clusterIdentity=${clusterIdentity}`,
    ...args,
  );
}
