/**
 * The reconcile benchmark: N BackupEntries created at once on the real stack
 * with the worker and the watcher running as processes; time until every entry shows Succeeded and has its
 * `etcd-backup` secret. In the same run, the floor: the same Kubernetes API writes per entry done directly with
 * client-node at the same concurrency, on entries of a class the watcher does not serve. Both sides get the same
 * warm-up (2 entries through the same path, not timed) and the same end point: the entry's Succeeded status seen
 * through one watch (the bench's EntryObserver), per entry from its create call returning. Where our time goes comes
 * from each workflow's history; request counts per entry (the bench's own create included) from the API server's
 * own metrics.
 */
import os from 'node:os';
import { lifecycleHistory } from './history';
import {
  CpuMeter,
  cpuLine,
  type CpuWindow,
  EntryObserver,
  FINALIZER,
  G,
  Rig,
  benchEntries,
  mapLimit,
  quantile,
  requestsPerEntry,
  spread,
  type BenchEntry,
  type ProductBuild,
  type Spread,
} from './live';
import { temporalBackendFromEnv, type TemporalBackend } from '../stack';
import { machineInfo, type MachineInfo } from './deletion';

/** Options of {@link runReconcileBenchmark}. */
export interface ReconcileBenchOptions {
  mode: 'full' | 'quick' | 'custom';
  /** Entries created at once (default 200). */
  entries: number;
  /** In-flight bound of both sides: the worker's activity slots, the floor's entries in flight, the creates (default 50). */
  concurrency: number;
  build: ProductBuild;
  /** Working folder. */
  dir: string;
  /** Attach to this running stack instead of starting one. */
  stackEnv?: Record<string, string>;
  /** Temporal of an own stack. @default the stack's default (the dev server unless `BEL_STACK_TEMPORAL` says) */
  temporalBackend?: TemporalBackend;
  log?: (line: string) => void;
}

/** One side's figures. */
export interface ReconcileSide {
  totalMs: number;
  entriesPerSecond: number;
  /** Per entry: from its create call returning to Succeeded as the bench's watch showed it (both sides). */
  perEntryMs: Spread;
  /** API requests per entry by `<verb> <resource>`, from apiserver_request_total. */
  requestsPerEntry: Record<string, number>;
  verified: boolean;
  problems: string[];
  /** CPU seconds per process over the timed run (older results have none). */
  cpu?: CpuWindow;
}

/** The result written under `reconcile` in the results JSON. */
export interface ReconcileBenchResult {
  benchmark: 'reconcile';
  mode: ReconcileBenchOptions['mode'];
  at: string;
  machine: MachineInfo;
  settings: {
    entries: number;
    concurrency: number;
    workerActivitySlots: number;
    watcherConcurrency: number;
    warmUpEntries: number;
    /** Temporal the run used (older results have none: the dev server). */
    backend?: TemporalBackend;
  };
  ours: ReconcileSide;
  floor: ReconcileSide;
  /** ours.totalMs / floor.totalMs. */
  ratioToFloor: number;
  /** Median per entry, milliseconds: where our time goes. */
  breakdown: {
    /** Create returned → workflow started (the watcher saw the event and started the workflow). */
    watcherMs: number;
    /** Σ activity run time (the Kubernetes API calls and our code around them). */
    activitiesMs: number;
    /** Σ activity schedule-to-start (waiting for a worker slot / poll). */
    activityQueueMs: number;
    /** The rest until Succeeded was seen: workflow tasks, Temporal's persistence and the watch's delivery. */
    temporalMs: number;
    /** Median run time per activity type. */
    byActivity: Record<string, { count: number; p50Ms: number }>;
    /** Local activities (MarkerRecorded events) per entry by type, in the history read after every entry was Succeeded. */
    localActivities: Record<string, number>;
    /** Median history events per entry, read after every entry was Succeeded. */
    historyEvents: number;
  };
  targets: Array<{ target: string; value: string; met: boolean }>;
  ok: boolean;
}

/** The committed figures. */
export const RECONCILE_FULL = { entries: 200, concurrency: 50 };
/** Tiny sizes: proves the benchmark works. */
export const RECONCILE_QUICK = { entries: 8, concurrency: 4 };

const BUCKET = 'bench-reconcile';

/** How the report names each Temporal backend. */
export const TEMPORAL_NAMES: Record<TemporalBackend, string> = {
  dev: 'Temporal dev server',
  postgres: 'temporal-server (16 shards) + PostgreSQL',
};

/** Runs both sides and returns the figures (throws only when the rig cannot start). */
export async function runReconcileBenchmark(o: ReconcileBenchOptions): Promise<ReconcileBenchResult> {
  const log = o.log ?? (() => undefined);
  const machine = machineInfo();
  const rig = await Rig.start({
    build: o.build,
    dir: o.dir,
    log,
    ...(o.stackEnv ? { stackEnv: o.stackEnv } : {}),
    ...(o.temporalBackend ? { temporalBackend: o.temporalBackend } : {}),
    env: { BEL_MAX_CONCURRENT_ACTIVITY_TASKS: String(o.concurrency) },
  });
  try {
    const floorEntries = benchEntries(`f${rig.run}`, o.entries);
    const ourEntries = benchEntries(`o${rig.run}`, o.entries);
    const floorWarm = benchEntries(`fw${rig.run}`, WARM_UP);
    const ourWarm = benchEntries(`ow${rig.run}`, WARM_UP);
    log(`preparing ${2 * (o.entries + WARM_UP)} namespaces and provider secrets (not timed)`);
    await rig.prepare([...floorEntries, ...ourEntries, ...floorWarm, ...ourWarm], BUCKET);
    // One watch sees both sides: the end point (Succeeded) is observed the same way for the floor and for ours.
    const observer = new EntryObserver(rig.kc, rig.run);
    try {
      // Warm-up, not timed, the same for both sides: the API server's first requests for a new resource, client-node's
      // first connections, the worker's first workflow tasks and activities are slow.
      await runFloor(rig, observer, floorWarm, WARM_UP);
      log(`floor: ${o.entries} entries, their API writes done directly with client-node, ${o.concurrency} in flight`);
      // CPU per process over each timed side: the floor runs in this process, ours in the worker and the watcher.
      const cpu = new CpuMeter(() => rig.processPids());
      cpu.start();
      const floor = { ...(await runFloor(rig, observer, floorEntries, o.concurrency)), cpu: cpu.stop() };
      log(`floor: ${(floor.totalMs / 1000).toFixed(2)} s`);

      await rig.startService();
      await runOurs(rig, observer, ourWarm, WARM_UP);
      log(`ours: ${o.entries} entries created at once (${o.concurrency} creates in flight); worker + watcher running`);
      cpu.start();
      const { side: timed, createdAt, doneAt } = await runOurs(rig, observer, ourEntries, o.concurrency, log);
      const ours = { ...timed, cpu: cpu.stop() };
      log(`ours: ${(ours.totalMs / 1000).toFixed(2)} s; reading ${o.entries} workflow histories`);
      const breakdown = await whereTheTimeGoes(rig, ourEntries, createdAt, doneAt);
      const ratio = round(ours.totalMs / floor.totalMs, 2);
      const requests = round(
        Object.values(ours.requestsPerEntry).reduce((x, y) => x + y, 0),
        1,
      );
      const full = o.mode === 'full';
      return {
        benchmark: 'reconcile',
        mode: o.mode,
        at: new Date().toISOString(),
        machine: { ...machine, loadAverageEnd: os.loadavg().map((l) => round(l, 2)) },
        settings: {
          entries: o.entries,
          concurrency: o.concurrency,
          workerActivitySlots: o.concurrency,
          watcherConcurrency: 8,
          warmUpEntries: WARM_UP,
          backend: o.temporalBackend ?? temporalBackendFromEnv(),
        },
        ours,
        floor,
        ratioToFloor: ratio,
        breakdown,
        targets: full
          ? [
              { target: 'total ≤ 1.5× the client-node floor', value: `${ratio}×`, met: ratio <= 1.5 },
              {
                target: "API requests per entry ≤ 8 (the bench's create included)",
                value: String(requests),
                met: requests <= 8,
              },
            ]
          : [],
        ok: ours.verified && floor.verified,
      };
    } finally {
      await observer.stop();
    }
  } finally {
    await rig.stop();
  }
}

/** Entries per side that go through the timed path once before the timing starts. */
export const WARM_UP = 2;

/** Our side: creates `entries` (`concurrency` creates in flight) and waits until the watch shows each Succeeded. */
async function runOurs(
  rig: Rig,
  observer: EntryObserver,
  entries: readonly BenchEntry[],
  concurrency: number,
  log?: (line: string) => void,
): Promise<{ side: ReconcileSide; createdAt: number[]; doneAt: number[] }> {
  const before = rig.apiRequestCounts();
  const t0 = Date.now();
  const createdAt = await mapLimit(entries, concurrency, async (e) => {
    await rig.createEntry(e, BUCKET);
    return Date.now();
  });
  let shown = 0;
  await observer.until(
    entries.map((e) => e.name),
    (x) => x.succeededAt !== undefined,
    'Succeeded',
    600_000,
    (n) => {
      if (log && n >= shown + Math.max(1, entries.length / 4)) {
        shown = n;
        log(`ours: ${n}/${entries.length} Succeeded`);
      }
    },
  );
  const doneAt = entries.map((e) => observer.seen.get(e.name)!.succeededAt!);
  const totalMs = Math.max(...doneAt) - t0;
  const after = rig.apiRequestCounts();
  const problems = await verify(rig, entries, true);
  return {
    createdAt,
    doneAt,
    side: {
      totalMs,
      entriesPerSecond: round(entries.length / (totalMs / 1000), 1),
      perEntryMs: spread(doneAt.map((d, i) => d - createdAt[i]!)),
      requestsPerEntry: requestsPerEntry(before, after, entries.length),
      verified: problems.length === 0,
      problems,
    },
  };
}

/**
 * The floor's writes for one entry, what our reconcile must write at the least, in order: create the entry (class
 * `cls`), add the finalizer to it and to its secretRef secret, status Processing, read the provider secret, create
 * `etcd-backup`, status Succeeded. Returns when the create returned. Also sets up the retention benchmark's floor.
 */
export async function floorReconcileEntry(rig: Rig, e: BenchEntry, bucket: string, cls: string): Promise<number> {
  await rig.createEntry(e, bucket, cls);
  const createdAt = Date.now();
  await rig.patchEntry(e.name, { metadata: { finalizers: [FINALIZER] } });
  await rig.patchSecret('garden', `entry-${e.name}`, { metadata: { finalizers: [FINALIZER] } });
  const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await rig.patchEntry(
    e.name,
    {
      status: {
        lastOperation: {
          type: 'Create',
          state: 'Processing',
          progress: 1,
          description: 'Reconciling the BackupEntry',
          lastUpdateTime: now(),
        },
        observedGeneration: 1,
      },
    },
    true,
  );
  const source = await rig.core.readNamespacedSecret({ namespace: 'garden', name: `entry-${e.name}` });
  await rig.core.createNamespacedSecret({
    namespace: e.namespace,
    body: {
      metadata: { name: 'etcd-backup', annotations: { 'backup.gardener.cloud/created-by': e.name } },
      data: { ...source.data, bucketName: Buffer.from(bucket).toString('base64') },
    },
  });
  await rig.patchEntry(
    e.name,
    {
      status: {
        lastOperation: {
          type: 'Create',
          state: 'Succeeded',
          progress: 100,
          description: 'Successfully reconciled BackupEntry',
          lastUpdateTime: now(),
        },
        observedGeneration: 1,
      },
    },
    true,
  );
  return createdAt;
}

/**
 * The floor: {@link floorReconcileEntry} for every entry, `concurrency` entries at once; done per entry when the
 * bench's watch shows its Succeeded status (the same end point as ours).
 */
async function runFloor(
  rig: Rig,
  observer: EntryObserver,
  entries: readonly BenchEntry[],
  concurrency: number,
): Promise<ReconcileSide> {
  const before = rig.apiRequestCounts();
  const t0 = Date.now();
  const createdAt = await mapLimit(entries, concurrency, (e) =>
    floorReconcileEntry(rig, e, BUCKET, `floor-${rig.run}`),
  );
  await observer.until(
    entries.map((e) => e.name),
    (x) => x.succeededAt !== undefined,
    'Succeeded (floor)',
    600_000,
  );
  const doneAt = entries.map((e) => observer.seen.get(e.name)!.succeededAt!);
  const totalMs = Math.max(...doneAt) - t0;
  const after = rig.apiRequestCounts();
  const problems = await verify(rig, entries, false);
  return {
    totalMs,
    entriesPerSecond: round(entries.length / (totalMs / 1000), 1),
    perEntryMs: spread(doneAt.map((d, i) => d - createdAt[i]!)),
    requestsPerEntry: requestsPerEntry(before, after, entries.length),
    verified: problems.length === 0,
    problems,
  };
}

/** Every entry Succeeded with its finalizer, and an `etcd-backup` secret in every shoot namespace. */
async function verify(rig: Rig, entries: readonly BenchEntry[], ours: boolean): Promise<string[]> {
  const problems: string[] = [];
  const secrets = await rig.etcdBackupNamespaces();
  const missing = entries.filter((e) => !secrets.has(e.namespace));
  if (missing.length)
    problems.push(`${missing.length} shoot namespaces without etcd-backup (first ${missing[0]!.namespace})`);
  await mapLimit(entries, 16, async (e) => {
    const obj = (await rig.custom.getClusterCustomObject({ ...G, name: e.name })) as {
      metadata: { finalizers?: string[] };
      status?: { lastOperation?: { state?: string } };
    };
    if (obj.status?.lastOperation?.state !== 'Succeeded')
      problems.push(`${e.name}: lastOperation ${obj.status?.lastOperation?.state}`);
    if (ours && !obj.metadata.finalizers?.includes(FINALIZER)) problems.push(`${e.name}: no finalizer`);
  });
  return problems.slice(0, 10);
}

async function whereTheTimeGoes(
  rig: Rig,
  entries: readonly BenchEntry[],
  createdAt: number[],
  doneAt: number[],
): Promise<ReconcileBenchResult['breakdown']> {
  const rows = await mapLimit(entries, 16, async (e, i) => {
    const h = await lifecycleHistory(rig.client!, rig.workflowId(e.name));
    const acts = h.activities.filter(
      (a) => a.started !== undefined && a.closed !== undefined && a.scheduled <= doneAt[i]!,
    );
    const run = acts.reduce((s, a) => s + (a.closed! - a.started!), 0);
    const queue = acts.reduce((s, a) => s + (a.started! - a.scheduled), 0);
    // A local activity's marker is recorded when its workflow task completes, after the status it wrote was seen:
    // every one in the history (read once all entries are Succeeded) counts.
    const local = h.localActivities;
    return {
      watcher: h.startedAt - createdAt[i]!,
      run,
      queue,
      rest: doneAt[i]! - h.startedAt - run - queue,
      acts,
      local,
      events: h.events,
    };
  });
  const byType = new Map<string, number[]>();
  for (const r of rows)
    for (const a of r.acts) byType.set(a.type, [...(byType.get(a.type) ?? []), a.closed! - a.started!]);
  const localByType = new Map<string, number>();
  for (const r of rows) for (const a of r.local) localByType.set(a.type, (localByType.get(a.type) ?? 0) + 1);
  const med = (xs: number[]): number => Math.round(quantile(xs, 0.5));
  return {
    watcherMs: med(rows.map((r) => r.watcher)),
    activitiesMs: med(rows.map((r) => r.run)),
    activityQueueMs: med(rows.map((r) => r.queue)),
    temporalMs: med(rows.map((r) => r.rest)),
    byActivity: Object.fromEntries(
      [...byType]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([t, xs]) => [t, { count: round(xs.length / rows.length, 2), p50Ms: med(xs) }]),
    ),
    localActivities: Object.fromEntries(
      [...localByType].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => [t, round(n / rows.length, 2)]),
    ),
    historyEvents: med(rows.map((r) => r.events)),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The markdown section of a result. */
export function renderReconcileMarkdown(r: ReconcileBenchResult): string {
  const m = r.machine;
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const side = (name: string, x: ReconcileSide): string =>
    `| ${name} | ${s(x.totalMs)} | ${x.entriesPerSecond} | ${x.perEntryMs.p50} | ${x.perEntryMs.p99} | ${x.perEntryMs.max} | ` +
    `${Object.values(x.requestsPerEntry)
      .reduce((a, b) => a + b, 0)
      .toFixed(1)} | ${x.verified ? 'yes' : `**no**: ${x.problems.join('; ')}`} |`;
  const b = r.breakdown;
  return [
    `### Reconcile (${r.mode}), ${r.at.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}. Load average ${m.loadAverageStart.join(' / ')} at start, ${m.loadAverageEnd.join(' / ')} at end.`,
    '',
    `Settings: ${r.settings.entries} entries created at once (${r.settings.concurrency} creates in flight) on kube-apiserver + etcd + ${TEMPORAL_NAMES[r.settings.backend ?? 'dev']}; ` +
      `worker (${r.settings.workerActivitySlots} activity slots) and watcher (concurrency ${r.settings.watcherConcurrency}) as their own processes. ` +
      `Floor: the same writes per entry with client-node, ${r.settings.concurrency} entries in flight. Both sides warmed up with ` +
      `${r.settings.warmUpEntries ?? 0} entries through the same path first (not timed). End point for both: the entry's Succeeded status seen ` +
      "through the bench's watch. Per entry = create returned → Succeeded seen; total = first create sent → last Succeeded seen. " +
      "API requests per entry include the bench's own create.",
    '',
    '| side | total (s) | entries/s | per entry p50 (ms) | p99 (ms) | max (ms) | API requests / entry | verified |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    side('ours (watcher → Temporal → worker)', r.ours),
    side('floor (client-node only)', r.floor),
    '',
    `Ours / floor: **${r.ratioToFloor}×**.`,
    '',
    ...(r.ours.cpu && r.floor.cpu
      ? [
          `CPU seconds over the timed run (${m.cores} cores): ours (${r.ours.cpu.wallS} s wall) ${cpuLine(r.ours.cpu)}; ` +
            `floor (${r.floor.cpu.wallS} s wall) ${cpuLine(r.floor.cpu)}.`,
          '',
        ]
      : []),
    `Where the time goes (median per entry): watcher (create → workflow started) ${b.watcherMs} ms; activities running ${b.activitiesMs} ms; ` +
      `activities waiting for a slot ${b.activityQueueMs} ms; workflow tasks (local activities included) + Temporal + watch delivery ${b.temporalMs} ms. ` +
      `History events per entry when read after all Succeeded (median): ${b.historyEvents ?? '–'}.`,
    '',
    '| activity | per entry | p50 run (ms) |',
    '|---|---:|---:|',
    ...Object.entries(b.byActivity).map(([t, v]) => `| ${t} | ${v.count} | ${v.p50Ms} |`),
    ...Object.entries(b.localActivities ?? {}).map(([t, n]) => `| ${t} (local) | ${n} | – |`),
    '',
    'API requests per entry (apiserver_request_total):',
    '',
    '| request | ours | floor |',
    '|---|---:|---:|',
    ...[...new Set([...Object.keys(r.ours.requestsPerEntry), ...Object.keys(r.floor.requestsPerEntry)])]
      .sort()
      .map((k) => `| ${k} | ${r.ours.requestsPerEntry[k] ?? 0} | ${r.floor.requestsPerEntry[k] ?? 0} |`),
    '',
    ...(r.targets.length
      ? [
          '| target | value | met |',
          '|---|---|---|',
          ...r.targets.map((t) => `| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} |`),
          '',
        ]
      : []),
  ].join('\n');
}
