/**
 * Raw results and the report built from them. Every benchmark run writes its whole
 * result as one JSON file, `<dir>/raw/<benchmark>-<start time>.json`, tagged with its set (one `npm run bench`
 * invocation of R runs: `set.id`, `set.index`, `set.of`). The report (`latest.md` + `latest.json` for full runs,
 * `<mode>.md` + `<mode>.json` otherwise) is regenerated from those files only: per benchmark its newest set, each
 * headline figure as the median and min–max over the set's runs, every run's load average at start and end, the
 * issue-14 target table, and each run's own section.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderDeletionMarkdown, type DeletionBenchResult, type DeletionRun } from './deletion';
import { renderReconcileMarkdown, TEMPORAL_NAMES, type ReconcileBenchResult } from './reconcile';
import { renderRetentionMarkdown, type RetentionBenchResult } from './retention';
import type { MemoryBenchResult } from './memory';

/** Which invocation a run belongs to. */
export interface RunSet {
  /** ISO time the invocation started its first run of this benchmark. */
  id: string;
  /** 1-based position of the run in the set. */
  index: number;
  /** Runs the set was asked for. */
  of: number;
  /** When this run started (ISO). */
  runStartedAt: string;
  /** The flags the benchmark ran with. */
  argv: string[];
  note?: string;
}

/** A benchmark result as written to `raw/`. */
export type RawResult = (DeletionBenchResult | ReconcileBenchResult | RetentionBenchResult) & {
  set: RunSet;
  file?: string;
};

const fileStamp = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');

/** When a result's run started. */
function startedAt(r: RawResult): string {
  return r.set?.runStartedAt ?? (r.benchmark === 'deletion' ? r.startedAt : r.at);
}

/** Writes one run's result to `<dir>/raw/`; returns the file. */
export function writeRaw(
  dir: string,
  result: DeletionBenchResult | ReconcileBenchResult | RetentionBenchResult | MemoryBenchResult,
  set: RunSet,
): string {
  const raw = join(dir, 'raw');
  mkdirSync(raw, { recursive: true });
  const base = `${result.benchmark}-${fileStamp(set.runStartedAt)}`;
  let file = join(raw, `${base}.json`);
  for (let i = 2; existsSync(file); i++) file = join(raw, `${base}-${i}.json`);
  writeFileSync(file, `${JSON.stringify({ ...result, set }, null, 2)}\n`);
  return file;
}

/** Every raw result under `<dir>/raw/`, oldest first. */
export function readRaw(dir: string): RawResult[] {
  const raw = join(dir, 'raw');
  if (!existsSync(raw)) return [];
  return readdirSync(raw)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const r = JSON.parse(readFileSync(join(raw, f), 'utf8')) as RawResult;
      return { ...r, file: `raw/${f}` };
    })
    .sort((a, b) => startedAt(a).localeCompare(startedAt(b)));
}

/** Per benchmark, the runs of its newest set (of `mode`, when given), in run order. */
export function newestSets(results: readonly RawResult[], mode?: string): Map<string, RawResult[]> {
  const out = new Map<string, RawResult[]>();
  for (const name of ['deletion', 'reconcile', 'retention']) {
    const mine = results.filter((r) => r.benchmark === name && r.set && (mode === undefined || r.mode === mode));
    const newest = mine
      .map((r) => r.set.id)
      .sort()
      .at(-1);
    if (newest !== undefined)
      out.set(
        name,
        mine.filter((r) => r.set.id === newest).sort((a, b) => a.set.index - b.set.index),
      );
  }
  return out;
}

/** One headline figure of one run. */
export interface Figure {
  key: string;
  label: string;
  unit: string;
  value: number;
}

const fin = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
const fmtN = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const total = (r: Record<string, number>): number => Math.round(Object.values(r).reduce((a, b) => a + b, 0) * 10) / 10;

/** The headline figures of a result (what the README may quote). */
export function figuresOf(r: RawResult): Figure[] {
  const f: Figure[] = [];
  const add = (key: string, label: string, unit: string, value: number | undefined): void => {
    if (fin(value)) f.push({ key, label, unit, value });
  };
  if (r.benchmark === 'reconcile') {
    add('ratioToFloor', 'all Succeeded, ours / floor', '×', r.ratioToFloor);
    add('ours.totalMs', 'ours: all Succeeded', 's', r.ours.totalMs / 1000);
    add('floor.totalMs', 'floor: all Succeeded', 's', r.floor.totalMs / 1000);
    add('ours.perEntry.p99', 'ours: per entry p99', 'ms', r.ours.perEntryMs.p99);
    add('floor.perEntry.p99', 'floor: per entry p99', 'ms', r.floor.perEntryMs.p99);
    add('ours.requests', 'ours: API requests per entry', '', total(r.ours.requestsPerEntry));
    add('floor.requests', 'floor: API requests per entry', '', total(r.floor.requestsPerEntry));
    add('historyEvents', 'ours: history events per entry after the reconcile', '', r.breakdown.historyEvents);
    add(
      'cpu.ours',
      'ours: CPU over the timed run, every process',
      's',
      r.ours.cpu ? total(r.ours.cpu.cpuS) : undefined,
    );
    add('cpu.ours.worker', 'ours: CPU over the timed run, the worker', 's', r.ours.cpu?.cpuS.worker);
    add(
      'cpu.floor',
      'floor: CPU over the timed run, every process',
      's',
      r.floor.cpu ? total(r.floor.cpu.cpuS) : undefined,
    );
  } else if (r.benchmark === 'retention') {
    add(
      'deletionStart.p50',
      'deletion start (deleteBackups scheduled) after the deadline, p50',
      's',
      r.lateness.deletionStart.p50 / 1000,
    );
    add(
      'deletionStart.p99',
      'deletion start (deleteBackups scheduled) after the deadline, p99',
      's',
      r.lateness.deletionStart.p99 / 1000,
    );
    add('timerFired.p99', 'retention timer fired after the deadline, p99', 's', r.lateness.timerFired.p99 / 1000);
    add(
      'gone.ours',
      'deadline → every entry gone (finalizers released), ours',
      's',
      fin(r.gone?.ours.overallMs) ? r.gone!.ours.overallMs / 1000 : undefined,
    );
    add(
      'gone.floor',
      'deadline → every entry gone, floor',
      's',
      fin(r.gone?.floor?.overallMs) ? r.gone!.floor!.overallMs / 1000 : undefined,
    );
    add('gone.ratio', 'deadline → every entry gone, ours / floor', '×', r.gone?.ratioToFloor);
    add(
      'gone.ours.p99',
      'deadline → entry gone per entry p99, ours',
      's',
      fin(r.gone?.ours.perEntry.p99) ? r.gone!.ours.perEntry.p99 / 1000 : undefined,
    );
    add(
      'gone.floor.p99',
      'deadline → entry gone per entry p99, floor',
      's',
      fin(r.gone?.floor?.perEntry.p99) ? r.gone!.floor!.perEntry.p99 / 1000 : undefined,
    );
    add(
      'timerSet.p50',
      'retention timer set after the delete call returned, p50',
      's',
      fin(r.timerSetAfterDeletion?.afterDeleteCall.p50)
        ? r.timerSetAfterDeletion!.afterDeleteCall.p50 / 1000
        : undefined,
    );
    add(
      'timerSet.p99',
      'retention timer set after the delete call returned, p99',
      's',
      fin(r.timerSetAfterDeletion?.afterDeleteCall.p99)
        ? r.timerSetAfterDeletion!.afterDeleteCall.p99 / 1000
        : undefined,
    );
    add(
      'historyEventsPerLifecycle',
      'historyEventsPerLifecycle (median over entries)',
      '',
      r.historyEventsPerLifecycle,
    );
    add('rss.worker', 'worker peak RSS', 'MiB', r.peakRssMiB.worker);
    add('rss.watcher', 'watcher peak RSS', 'MiB', r.peakRssMiB.watcher);
    add('rss.temporal', `${TEMPORAL_NAMES[r.settings.backend ?? 'dev']} peak RSS`, 'MiB', r.peakRssMiB.temporal);
    add('reconcile.perSecond', 'reconcile of all entries', 'entries/s', r.reconcile.entriesPerSecond);
    add(
      'ceiling.deletionStart.p50',
      'no-op ceiling: stub activity scheduled after the deadline, p50',
      's',
      fin(r.ceiling?.deletionStart.p50) ? r.ceiling!.deletionStart.p50 / 1000 : undefined,
    );
    add(
      'ceiling.deletionStart.p99',
      'no-op ceiling: stub activity scheduled after the deadline, p99',
      's',
      fin(r.ceiling?.deletionStart.p99) ? r.ceiling!.deletionStart.p99 / 1000 : undefined,
    );
    add('ceiling.rss', 'no-op ceiling: worker peak RSS', 'MiB', r.ceiling?.workerPeakRssMiB);
    // Issue 25: registration of every entry and the storm, each against the ceiling's same phase; CPU over the storm.
    const registration = r.registration?.afterDeletion.p99;
    const ceilingRegistration = r.ceiling?.timerSetAfterSignal.p99;
    add(
      'registration.p99',
      'registration (beginDeletion marker − deletionTimestamp), every entry, p99',
      's',
      fin(registration) ? registration / 1000 : undefined,
    );
    add(
      'ceiling.registration.p99',
      'no-op ceiling: timer set after the signal returned, p99',
      's',
      fin(ceilingRegistration) ? ceilingRegistration / 1000 : undefined,
    );
    add(
      'registration.ratioToCeiling',
      'registration p99, ours / ceiling',
      '×',
      fin(registration) && fin(ceilingRegistration) && ceilingRegistration > 0
        ? registration / ceilingRegistration
        : undefined,
    );
    add(
      'deletionStart.ratioToCeiling',
      'deletion start after the deadline p99, ours / ceiling',
      '×',
      fin(r.ceiling?.deletionStart.p99) && r.ceiling!.deletionStart.p99 > 0
        ? r.lateness.deletionStart.p99 / r.ceiling!.deletionStart.p99
        : undefined,
    );
    add('cpu.ours', 'CPU over the storm, every process, ours', 's', r.stormCpu ? total(r.stormCpu.cpuS) : undefined);
    add('cpu.ours.worker', 'CPU over the storm, our worker', 's', r.stormCpu?.cpuS.worker);
    add(
      'cpu.ceiling',
      'CPU over the storm, every process, ceiling',
      's',
      r.ceiling?.stormCpu ? total(r.ceiling.stormCpu.cpuS) : undefined,
    );
    add('cpu.ceiling.worker', 'CPU over the storm, the ceiling worker', 's', r.ceiling?.stormCpu?.cpuS.worker);
    add(
      'cpu.registration.ours',
      'CPU over the registration, every process, ours',
      's',
      r.registrationCpu ? total(r.registrationCpu.cpuS) : undefined,
    );
    add(
      'cpu.registration.ceiling',
      'CPU over the registration, every process, ceiling',
      's',
      r.ceiling?.registrationCpu ? total(r.ceiling.registrationCpu.cpuS) : undefined,
    );
  } else {
    for (const x of r.runs as DeletionRun[]) {
      const k = `${x.backend}.${x.objects}.${x.deleter}`;
      const l = `${x.backend} ${fmtN(x.objects)} ${x.deleter}`;
      add(`${k}.objectsPerSecond`, `${l}: objects/s`, 'objects/s', x.verified ? x.objectsPerSecond : undefined);
      add(`${k}.achievablePercent`, `${l}: % of achievable`, '%', x.verified ? x.achievablePercent : undefined);
      if (x.deleter === 'ours') add(`${k}.peakRssMiB`, `${l}: peak RSS`, 'MiB', x.peakRssMiB);
    }
  }
  return f;
}

/** Median (mean of the two middle values for an even count), min and max. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: readonly number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0] ?? NaN, max: s.at(-1) ?? NaN, n: s.length };
}

/** The set's figures: per key, label, unit and {@link Stat} over its runs, in first-seen order. */
export function aggregate(runs: readonly RawResult[]): Array<{ key: string; label: string; unit: string; stat: Stat }> {
  const byKey = new Map<string, { label: string; unit: string; values: number[] }>();
  for (const r of runs) {
    for (const f of figuresOf(r)) {
      const e = byKey.get(f.key) ?? { label: f.label, unit: f.unit, values: [] };
      e.values.push(f.value);
      byKey.set(f.key, e);
    }
  }
  return [...byKey].map(([key, e]) => ({ key, label: e.label, unit: e.unit, stat: stat(e.values) }));
}

const num = (x: number): string => {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }).replace(/,/g, ' ');
};
const withUnit = (x: number, unit: string): string =>
  unit === '' ? num(x) : unit === '×' ? `${num(x)}×` : `${num(x)} ${unit}`;
const spanOf = (s: Stat, unit: string): string =>
  s.n > 1 ? `${withUnit(s.min, unit)} – ${withUnit(s.max, unit)}` : '–';

/** One row of the issue-14 target table. */
export interface TargetRow {
  figure: string;
  now: string;
  target: string;
  benchmark: 'reconcile' | 'retention' | 'reliability';
  /** The figure key (see {@link figuresOf}); undefined = not measured by the benchmarks. */
  key?: string;
  unit: string;
  met?: (median: number) => boolean;
  /** The size the target is stated for. */
  fullSize?: (r: RawResult) => boolean;
  note?: string;
}

/** The seed-scale targets, with the figures that measure them. */
export const ISSUE_14_TARGETS: readonly TargetRow[] = [
  {
    figure: '200 new entries → all Succeeded, vs the client-node floor doing the same writes',
    now: '3.93×',
    target: '≤ 1.5×',
    benchmark: 'reconcile',
    key: 'ratioToFloor',
    unit: '×',
    met: (v) => v <= 1.5,
    fullSize: (r) => r.benchmark === 'reconcile' && r.settings.entries === 200,
  },
  {
    figure: "API requests per entry in that run (the benchmark's own create included; the floor makes 7)",
    now: '16',
    target: '≤ 8',
    benchmark: 'reconcile',
    key: 'ours.requests',
    unit: '',
    met: (v) => v <= 8,
    fullSize: (r) => r.benchmark === 'reconcile' && r.settings.entries === 200,
  },
  {
    figure: 'history events per full lifecycle (create → retain → delete), `historyEventsPerLifecycle`',
    now: '~100',
    target: '≤ 40',
    benchmark: 'retention',
    key: 'historyEventsPerLifecycle',
    unit: '',
    met: (v) => v <= 40,
    fullSize: () => true,
  },
  {
    figure:
      '5 000 entries, retention 60 s, deleted at once: deletion start (`deleteBackups` scheduled) after the deadline, p99',
    now: '1 080 s',
    target: '< 5 s',
    benchmark: 'retention',
    key: 'deletionStart.p99',
    unit: 's',
    met: (v) => v < 5,
    fullSize: fullRetention,
  },
  {
    figure:
      'same run: deadline → every entry gone (finalizers released), vs a floor doing the same deletes and writes directly',
    now: '–',
    target: '≤ 2×',
    benchmark: 'retention',
    key: 'gone.ratio',
    unit: '×',
    met: (v) => v <= 2,
    fullSize: fullRetention,
  },
  {
    figure: 'worker peak RSS with 5 000 open workflows',
    now: '1 373 MiB',
    target: '< 500 MiB',
    benchmark: 'retention',
    key: 'rss.worker',
    unit: 'MiB',
    met: (v) => v < 500,
    fullSize: fullRetention,
  },
  {
    figure:
      'retention timer set after the watcher sees the deletion, p99 (measured from the delete call returning: an upper bound)',
    now: '–',
    target: '< 1 s',
    benchmark: 'retention',
    key: 'timerSet.p99',
    unit: 's',
    met: (v) => v < 1,
    fullSize: fullRetention,
  },
  {
    figure: 'worker SIGKILLed mid-deletion → another worker resumes it',
    now: '~2 min (heartbeat timeout)',
    target: '< 30 s',
    benchmark: 'reliability',
    unit: 's',
    note: 'not measured by `npm run bench`',
  },
];

function fullRetention(r: RawResult): boolean {
  return r.benchmark === 'retention' && r.settings.entries === 5000 && r.settings.retentionSeconds === 60;
}

/** The issue-14 target table for the given sets. */
export function renderTargetTable(sets: ReadonlyMap<string, readonly RawResult[]>): string {
  const lines = ['| figure | now | target | measured: median (min – max), runs | met |', '|---|---:|---:|---|---|'];
  for (const t of ISSUE_14_TARGETS) {
    const runs = sets.get(t.benchmark) ?? [];
    const agg = t.key ? aggregate(runs).find((a) => a.key === t.key) : undefined;
    let measured = '–';
    let met = '–';
    if (!t.key) {
      met = `– (${t.note ?? 'not measured'})`;
    } else if (!agg) {
      met = runs.length ? '– (figure missing)' : '– (no run yet)';
    } else {
      measured = `${withUnit(agg.stat.median, t.unit)}${agg.stat.n > 1 ? ` (${spanOf(agg.stat, t.unit)})` : ''}, ${agg.stat.n} run${agg.stat.n > 1 ? 's' : ''}`;
      const sized = runs.every((r) => r.mode === 'full' && (t.fullSize?.(r) ?? true));
      const ok = t.met!(agg.stat.median);
      met = sized ? (ok ? 'yes' : '**no**') : `– (${runs[0]!.mode} size; would be ${ok ? 'yes' : 'no'})`;
    }
    lines.push(`| ${t.figure} | ${t.now} | ${t.target} | ${measured} | ${met} |`);
  }
  return lines.join('\n');
}

function renderRun(r: RawResult): string {
  if (r.benchmark === 'deletion') return renderDeletionMarkdown(r);
  if (r.benchmark === 'reconcile') return renderReconcileMarkdown(r);
  return renderRetentionMarkdown(r);
}

/** How long a run took, start to result. */
function took(r: RawResult): string {
  const ms = Date.parse(r.benchmark === 'deletion' ? r.finishedAt : r.at) - Date.parse(startedAt(r));
  if (!Number.isFinite(ms)) return '–';
  const min = Math.floor(ms / 60_000);
  return min ? `${min} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.round(ms / 1000)} s`;
}

const TITLES: Record<string, string> = { deletion: 'Deletion', reconcile: 'Reconcile', retention: 'Retention' };

/**
 * A set of runs kept apart from `raw/` (e.g. `issue-25/dev-500`): its folder name and every retention run in it. A
 * folder is one set by construction — its runs may come from several invocations (a 30-minute 5 000-entry run is
 * started one at a time), but they must share their settings.
 */
export interface NamedSet {
  name: string;
  runs: readonly RawResult[];
}

/**
 * Every `<dir>/<group>/<name>/raw/` with at least 3 verified runs of `benchmark`, as one set each (the issue-25 sets per backend
 * and size). Throws when a folder's runs differ in their settings: their medians would describe nothing.
 */
export function groupSets(dir: string, group: string, benchmark: 'retention' | 'reconcile' = 'retention'): NamedSet[] {
  const root = join(dir, group);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'raw')))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((d) => {
      const name = `${group}/${d.name}`;
      // A run that did not verify measured something else (e.g. a cold restart after the first deadline): not a member.
      const runs = readRaw(join(root, d.name)).filter((r) => r.benchmark === benchmark && r.ok);
      const shapes = new Set(runs.map((r) => settingsKey(r.settings)));
      if (shapes.size > 1)
        throw new Error(`${name}: its runs differ in their settings (${[...shapes].join(' vs ')}); one set per folder`);
      return { name, runs };
    })
    .filter((x) => x.runs.length >= 3);
}

/** Settings as a stable string (keys sorted), to tell whether two runs measured the same thing. */
function settingsKey(settings: object): string {
  return JSON.stringify(Object.fromEntries(Object.entries(settings).sort(([a], [b]) => a.localeCompare(b))));
}

/** Median (min – max) — with "k of n runs" when only some runs have the figure — or "–" when none has it. */
function measured(runs: readonly RawResult[], key: string, unit: string): string {
  const a = aggregate(runs).find((x) => x.key === key);
  if (!a) return '–';
  const span = a.stat.n > 1 ? spanOf(a.stat, unit) : '';
  // A figure newer than some of the set's runs: say how many runs it comes from.
  const few = a.stat.n < runs.length ? `${a.stat.n} of ${runs.length} runs` : '';
  const note = [span, few].filter(Boolean).join('; ');
  return `${withUnit(a.stat.median, unit)}${note ? ` (${note})` : ''}`;
}

/**
 * Issue 25's target table per backend and size, from the sets of ≥ 3 runs under `<dir>/issue-25/` (worker memory is
 * the memory benchmark's: `memory/README.md`).
 */
export function renderIssue25Table(sets: readonly NamedSet[]): string {
  const lines = [
    '| set | backend | N | runs | registration p99, ours / ceiling (target ≤ 1.3×) | storm deletion start p99, ours / ceiling (≤ 1.3×) | ours p99 (dev, 500: < 5 s) | ceiling p99 | CPU over the storm, ours / ceiling (worker) | CPU over the registration, ours / ceiling | worker peak RSS |',
    '|---|---|---:|---:|---|---|---|---|---|---|---|',
  ];
  for (const { name, runs } of sets) {
    const first = runs[0]!;
    if (first.benchmark !== 'retention') continue;
    const cpuFigures = ['cpu.ours', 'cpu.ceiling', 'cpu.ours.worker', 'cpu.ceiling.worker'].map((k) =>
      measured(runs, k, 's'),
    );
    const cpu = cpuFigures.includes('–')
      ? '–'
      : `${cpuFigures[0]} / ${cpuFigures[1]} (${cpuFigures[2]} / ${cpuFigures[3]})`;
    const registrationFigures = ['cpu.registration.ours', 'cpu.registration.ceiling'].map((k) =>
      measured(runs, k, 's'),
    );
    const registrationCpu = registrationFigures.includes('–') ? '–' : registrationFigures.join(' / ');
    lines.push(
      `| \`${name}\` | ${first.settings.backend ?? 'dev'} | ${first.settings.entries} | ${runs.length} | ` +
        `${measured(runs, 'registration.ratioToCeiling', '×')} (${measured(runs, 'registration.p99', 's')} / ${measured(runs, 'ceiling.registration.p99', 's')}) | ` +
        `${measured(runs, 'deletionStart.ratioToCeiling', '×')} | ${measured(runs, 'deletionStart.p99', 's')} | ` +
        `${measured(runs, 'ceiling.deletionStart.p99', 's')} | ${cpu} | ${registrationCpu} | ${measured(runs, 'rss.worker', 'MiB')} |`,
    );
  }
  const reconcile = sets.filter((x) => x.runs[0]?.benchmark === 'reconcile');
  if (reconcile.length)
    lines.push(
      '',
      '| set | backend | entries | runs | all Succeeded, ours / client-node floor (target ≤ 1.5×) | ours | floor | API requests per entry, ours / floor | CPU over the timed run, ours / floor |',
      '|---|---|---:|---:|---|---|---|---|---|',
      ...reconcile.map(({ name, runs }) => {
        const first = runs[0]!;
        if (first.benchmark !== 'reconcile') throw new Error('a reconcile set expected');
        const m = (k: string, unit: string): string => measured(runs, k, unit);
        return (
          `| \`${name}\` | ${first.settings.backend ?? 'dev'} | ${first.settings.entries} | ${runs.length} | ${m('ratioToFloor', '×')} | ` +
          `${m('ours.totalMs', 's')} | ${m('floor.totalMs', 's')} | ${m('ours.requests', '')} / ${m('floor.requests', '')} | ` +
          `${m('cpu.ours', 's')} / ${m('cpu.floor', 's')} |`
        );
      }),
    );
  return lines.join('\n');
}

/** The report: the target table, then per benchmark its set's summary, the runs' load averages and each run's section. */
export function renderReport(
  sets: ReadonlyMap<string, readonly RawResult[]>,
  issue25: readonly NamedSet[] = [],
): string {
  const out = [
    '# Benchmark results',
    '',
    'Generated by `npm run bench` (tools/bench/run.ts, tools/bench/summary.ts) from the raw results in `raw/` only; regenerate with ' +
      '`npm run bench -- report`. Per benchmark: its newest set of runs, each figure as the median and min – max over the set. ' +
      'See the README section "Benchmarks" for the method.',
    '',
    '## Seed-scale targets',
    '',
    renderTargetTable(sets),
    '',
    ...(issue25.length
      ? [
          '## Issue 25: each phase against the no-op ceiling, per backend (cold-cache storm)',
          '',
          'From the sets of ≥ 3 runs under `issue-25/` (each folder holds its raw results and its own report); median ' +
            '(min – max). Registration: every entry, the `beginDeletion` marker − `deletionTimestamp`, against the ' +
            "ceiling's timer set after its signal returned. Storm: the worker restarted once every retention is " +
            'registered, deletion start (`deleteBackups` scheduled) after the deadline, against the ceiling (restarted ' +
            'too) scheduling its stub activity. CPU: CPU seconds of every process from every retention registered to ' +
            'every entry gone (the sets before the CPU meter show –). Worker memory at 500 and 5 000 open workflows: ' +
            '`memory/README.md`. The second table: 200 new entries → Succeeded against the client-node floor, per backend.',
          '',
          renderIssue25Table(issue25),
          '',
        ]
      : []),
  ];
  for (const [name, runs] of sets) {
    const first = runs[0]!;
    out.push(
      `## ${TITLES[name] ?? name}: ${runs.length} run${runs.length > 1 ? 's' : ''} (${first.mode}), set ${first.set.id.slice(0, 16).replace('T', ' ')} UTC`,
      '',
    );
    if (runs.length < first.set.of)
      out.push(
        `Only ${runs.length} of the ${first.set.of} runs asked for are recorded (the others failed or were stopped).`,
        '',
      );
    out.push(
      `Command flags: \`${first.set.argv.join(' ') || '(none)'}\`${first.set.note ? `; note: ${first.set.note}` : ''}.`,
      '',
    );
    out.push(
      '| figure | median | min – max |',
      '|---|---:|---:|',
      ...aggregate(runs).map((a) => `| ${a.label} | ${withUnit(a.stat.median, a.unit)} | ${spanOf(a.stat, a.unit)} |`),
      '',
    );
    out.push(
      '| run | started (UTC) | took | load average at start (1/5/15 min) | at end | verified | raw result |',
      '|---:|---|---:|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.set.index} | ${startedAt(r).slice(0, 19).replace('T', ' ')} | ${took(r)} | ${r.machine.loadAverageStart.join(' / ')} | ` +
          `${r.machine.loadAverageEnd.join(' / ')} | ${r.ok ? 'yes' : '**no**'} | \`${r.file ?? ''}\` |`,
      ),
      '',
    );
    for (const r of runs)
      out.push(
        `<details><summary>Run ${r.set.index}</summary>`,
        '',
        renderRun(r).replace(/^### /, '#### '),
        '</details>',
        '',
      );
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

/** Regenerates `<dir>/<base>.md` and `<dir>/<base>.json` (the newest sets' figures) from `<dir>/raw/`. */
export function writeReport(dir: string, base: string, mode?: string): { md: string; json: string } {
  const sets = newestSets(readRaw(dir), mode);
  const md = join(dir, `${base}.md`);
  const json = join(dir, `${base}.json`);
  writeFileSync(md, renderReport(sets, [...groupSets(dir, 'issue-25'), ...groupSets(dir, 'issue-25', 'reconcile')]));
  const summary = Object.fromEntries(
    [...sets].map(([name, runs]) => [
      name,
      {
        set: runs[0]!.set.id,
        mode: runs[0]!.mode,
        runs: runs.map((r) => ({
          file: r.file,
          ok: r.ok,
          loadAverageStart: r.machine.loadAverageStart,
          loadAverageEnd: r.machine.loadAverageEnd,
        })),
        figures: Object.fromEntries(aggregate(runs).map((a) => [a.key, { label: a.label, unit: a.unit, ...a.stat }])),
      },
    ]),
  );
  writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
  return { md, json };
}
