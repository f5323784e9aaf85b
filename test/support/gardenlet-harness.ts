/**
 * Drives tools/gardenlet-harness: Gardener's own gardenlet BackupEntry reconciler (github.com/gardener/gardener, the
 * version in tools/scripts/versions.env) against the stack's kube-apiserver as seed, with a fake garden. One `serve`
 * process per harness; each command is one line in and one JSON line out (tools/gardenlet-harness/README.md).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { cacheDir } from '../../tools/stack';

/** Metadata of an object as the harness prints it after each step. */
export interface HarnessObject {
  exists: boolean;
  deletionTimestamp?: string;
  finalizers: string[] | null;
  annotations: Record<string, string> | null;
  labels: Record<string, string> | null;
  resourceVersion?: string;
}

/** Gardener's lastOperation. */
export interface HarnessLastOperation {
  type: string;
  state: string;
  description?: string;
  lastUpdateTime?: string;
  progress?: number;
}

/** One reconcile. */
export interface HarnessStep {
  step: number;
  trigger: string;
  outcome: 'requeueAfter' | 'error' | 'done';
  requeueAfter?: string;
  backoff?: string;
  error?: string;
  waited?: string;
  slept?: string;
  seedRequests: number;
  seedWrites: number;
  /** `METHOD path status`, e.g. `PATCH /api/v1/namespaces/garden/secrets/entry-x 200`. */
  seedCalls: string[];
  informerRequests: number;
  gardenReads: number;
  gardenWrites: number;
  /** `verb [subresource] Kind ns/name`, e.g. `patch status BackupEntry garden-dev/x`. */
  gardenCalls: string[];
  events?: string[];
  secret: HarnessObject & { dataKeys?: string[] };
  extension: HarnessObject & { lastOperation?: HarnessLastOperation };
  core: HarnessObject & {
    lastOperation?: HarnessLastOperation;
    lastError?: { description: string };
    generation?: number;
    specSeedName?: string;
    /** status.seedName: the seed responsible until a migration succeeds (then unset). */
    statusSeedName?: string;
  };
}

/** What one command printed. */
export interface HarnessOutput {
  ok: boolean;
  command: string;
  name?: string;
  gardenerVersion: string;
  seedReads: string;
  error?: string;
  steps: HarnessStep[];
  stopped?: string;
  totals: {
    steps: number;
    seedRequests: number;
    seedWrites: number;
    informerRequests: number;
    gardenReads: number;
    gardenWrites: number;
  };
  secret?: HarnessStep['secret'];
  extension?: HarnessStep['extension'];
  core?: HarnessStep['core'];
}

/** A ControllerInstallation as the garden commands print it (tools/gardenlet-harness/installations.go). */
export interface HarnessInstallation {
  name: string;
  registration: string;
  seed?: string;
  deployment?: string;
  deletionTimestamp?: string;
  /** The Required condition gardenlet's required controller sets (absent until it ran). */
  required?: { status: string; reason: string; message: string };
}

/** One reconcile of a garden command: the object, its outcome and the calls it made. */
export interface HarnessReconcile {
  object: string;
  outcome: 'done' | 'error';
  error?: string;
  /** `verb Kind name`, e.g. `delete ControllerInstallation backupentry-lifecycle-x7k2p`. */
  gardenCalls: string[];
  seedCalls?: string[];
}

/** What a garden command (registration, installations, required, seed-crd, admit, token, reset) printed. */
export interface GardenOutput {
  ok: boolean;
  command: string;
  gardenerVersion: string;
  seed: string;
  error?: string;
  loaded?: string[];
  reconciles?: HarnessReconcile[];
  /** gardenlet's required controller: the extension types present in the seed, per kind. */
  kindToRequiredTypes?: Record<string, string[]>;
  /** admit: Gardener's validation and the ControllerRegistrationResources admission plugin, per registration. */
  admission?: { name: string; validation: string[]; admission?: string; allowed: boolean }[];
  /** token: gardener-apiserver's TokenRequest storage. */
  token?: {
    contextObject: { kind: string; apiVersion: string; name: string; namespace?: string; uid: string };
    issued: boolean;
    error?: string;
    claims?: Record<string, unknown>;
  };
  crd?: { name: string; created: boolean; gardener: string };
  registrations: { name: string; policy?: string; resources: { kind: string; type: string; primary?: boolean }[] }[];
  installations: HarnessInstallation[];
  backupBuckets: string[];
  /** `namespace/name`, with ` (terminating)` when it has a deletionTimestamp. */
  backupEntries: string[];
}

/** Path of the built harness from `<cache>/tools.env` (GARDENLET_HARNESS), or undefined when it is not installed. */
export function gardenletHarnessPath(): string | undefined {
  const file = join(cacheDir(), 'tools.env');
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('GARDENLET_HARNESS='));
  const p = line?.slice('GARDENLET_HARNESS='.length).trim();
  return p && existsSync(p) ? p : undefined;
}

/** A running `gardenlet-harness serve`. */
export class GardenletHarness {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private readonly queued: string[] = [];
  private stderr = '';
  private exited?: string;

  /** `args` are global flags, e.g. `['--max-wait', '100ms']`. */
  constructor(bin: string, kubeconfig: string, args: string[] = []) {
    this.proc = spawn(bin, ['--kubeconfig', kubeconfig, ...args, 'serve'], { stdio: 'pipe' });
    this.lines = createInterface({ input: this.proc.stdout });
    this.lines.on('line', (l) => {
      const waiter = this.pending.shift();
      if (waiter) waiter(l);
      else this.queued.push(l);
    });
    this.proc.stderr.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = `gardenlet-harness exited (${code ?? signal}): ${this.stderr}`;
      for (const w of this.pending.splice(0)) w('');
    });
  }

  private nextLine(timeoutMs: number): Promise<string> {
    const q = this.queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.pending.indexOf(done);
        if (i >= 0) this.pending.splice(i, 1);
        reject(new Error(`gardenlet-harness: no answer within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      const done = (line: string): void => {
        clearTimeout(timer);
        if (this.exited && line === '') reject(new Error(this.exited));
        else resolve(line);
      };
      this.pending.push(done);
    });
  }

  /** Waits for the `ready` line (the seed client's discovery and informers are up). */
  async ready(timeoutMs = 30_000): Promise<{ gardenerVersion: string; seedReads: string }> {
    const v = JSON.parse(await this.nextLine(timeoutMs)) as { ready?: boolean; error?: string };
    if (!v.ready) throw new Error(`gardenlet-harness did not start: ${JSON.stringify(v)} ${this.stderr}`);
    return v as { gardenerVersion: string; seedReads: string };
  }

  /** Runs one command line (e.g. `delete --name x --steps 3`); throws unless it printed ok. */
  async run(command: string, timeoutMs = 60_000): Promise<HarnessOutput> {
    if (/[\r\n]/.test(command)) throw new Error('one command per line');
    this.proc.stdin.write(`${command}\n`);
    const out = JSON.parse(await this.nextLine(timeoutMs)) as HarnessOutput;
    if (!out.ok) throw new Error(`gardenlet-harness ${command}: ${out.error ?? 'failed'}`);
    return out;
  }

  /** Runs one garden command line (e.g. `installations`, `registration --file f`); throws unless it printed ok. */
  async garden(command: string, timeoutMs = 60_000): Promise<GardenOutput> {
    if (/[\r\n]/.test(command)) throw new Error('one command per line');
    this.proc.stdin.write(`${command}\n`);
    const out = JSON.parse(await this.nextLine(timeoutMs)) as GardenOutput;
    if (!out.ok) throw new Error(`gardenlet-harness ${command}: ${out.error ?? 'failed'}`);
    return out;
  }

  /** Ends the process. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end('quit\n');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
    this.lines.close();
  }
}
