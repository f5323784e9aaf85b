/**
 * The reconcile and retention benchmarks' quick mode, as part of the test command: a handful of entries through the
 * real worker and watcher processes on the test stack, exactly as the full benchmarks run. Asserts correctness only
 * (every entry Succeeded with its etcd-backup secret; every prefix emptied, never before its deadline; the figures
 * are present), never a timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProductBuild } from '../../../tools/bench/live';
import { RECONCILE_QUICK, renderReconcileMarkdown, runReconcileBenchmark } from '../../../tools/bench/reconcile';
import { RETENTION_QUICK, renderRetentionMarkdown, runRetentionBenchmark } from '../../../tools/bench/retention';
import { stackEnv } from '../../support/env';
import { prepareWorkerBuild } from '../../support/worker-process';

const KEYS = ['KUBECONFIG', 'KUBECTL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE'];
let dir: string;
let build: ProductBuild;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bel-bench-live-'));
  const b = await prepareWorkerBuild();
  build = { worker: b.main, watcher: b.watcher, bundle: b.bundle };
  env = Object.fromEntries(KEYS.map((k) => [k, stackEnv(k)]));
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('live benchmarks, quick mode', () => {
  it("reconcile: every entry Succeeded with its etcd-backup secret, on our side and on the floor's", async () => {
    const r = await runReconcileBenchmark({
      mode: 'quick',
      ...RECONCILE_QUICK,
      build,
      dir: join(dir, 'reconcile'),
      stackEnv: env,
    });
    expect({ ours: r.ours.problems, floor: r.floor.problems }).toEqual({ ours: [], floor: [] });
    expect(r.ok).toBe(true);
    expect(r.ours.perEntryMs.n).toBe(RECONCILE_QUICK.entries);
    expect(r.floor.perEntryMs.n).toBe(RECONCILE_QUICK.entries);
    // Our side made the writes the floor makes, at least: finalizers, two status writes, the etcd-backup secret.
    for (const k of ['PATCH backupentries', 'PATCH backupentries/status', 'PATCH secrets', 'POST secrets']) {
      expect(r.ours.requestsPerEntry[k]).toBeGreaterThanOrEqual(r.floor.requestsPerEntry[k]!);
    }
    // The Kubernetes steps are local activities (MarkerRecorded events), no regular activity at all.
    expect(Object.keys(r.breakdown.localActivities ?? {})).toEqual(expect.arrayContaining(['observeAndReconcile']));
    expect(r.breakdown.byActivity).toEqual({});
    expect(r.targets).toEqual([]); // quick sizes say nothing about the target
    // CPU per side: ours in the worker, the floor in the benchmark's own process (no worker running yet).
    expect(r.ours.cpu?.cpuS.worker).toBeGreaterThan(0);
    expect(r.floor.cpu?.cpuS.benchmark).toBeGreaterThan(0);
    expect(r.floor.cpu?.cpuS.worker).toBeUndefined();
    expect(renderReconcileMarkdown(r)).toContain('| floor (client-node only) |');
    expect(renderReconcileMarkdown(r)).toMatch(/CPU seconds over the timed run \(\d+ cores\): ours .*worker [\d.]+/);
  }, 300_000);

  it('retention: every prefix emptied after its deadline, timers measured, memory sampled', async () => {
    const r = await runRetentionBenchmark({
      mode: 'quick',
      ...RETENTION_QUICK,
      build,
      dir: join(dir, 'retention'),
      stackEnv: env,
    });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.lateness.deletionStart.n).toBe(RETENTION_QUICK.entries);
    expect(r.lateness.firstDeleteCall.n).toBe(RETENTION_QUICK.entries);
    expect(r.peakRssMiB.worker).toBeGreaterThan(0);
    expect(r.peakRssMiB.temporal).toBeUndefined(); // the test stack's server is not the benchmark's to measure
    expect(renderRetentionMarkdown(r)).toContain('| retention timer fired |');
  }, 300_000);
});
