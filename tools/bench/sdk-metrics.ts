/**
 * The Temporal SDK's Prometheus metrics (the worker's `/metrics`, where the Core runtime's exporter is appended) read
 * and summarised for the benchmarks: sticky cache hits/misses/size/evictions, workflow-task schedule-to-start,
 * replay and execution latency, local-activity latency, activity schedule-to-start. Pure functions, unit-tested.
 */

/** One sample line: name, labels, value. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (comments and malformed lines skipped). */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum over every label set of the first metric whose name matches `re`. */
export function sumOf(samples: readonly PromSample[], re: RegExp): number | undefined {
  const hits = samples.filter((s) => re.test(s.name));
  if (!hits.length) return undefined;
  const first = hits[0]!.name;
  return hits.filter((s) => s.name === first).reduce((a, s) => a + s.value, 0);
}

/** A histogram summed over its label sets: count, mean, and quantiles by bucket upper bound (ms). */
export interface HistogramSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * The histogram `<base>_bucket/_sum/_count` (summed over label sets), in ms; quantiles are the upper bound of the bucket
 * the rank falls in (Infinity above the last finite bound). Values are seconds unless the name ends in `_milliseconds`.
 */
export function histogram(samples: readonly PromSample[], base: RegExp): HistogramSummary | undefined {
  const buckets = samples.filter((s) => s.name.endsWith('_bucket') && base.test(s.name.slice(0, -'_bucket'.length)));
  if (!buckets.length) return undefined;
  const name = buckets[0]!.name.slice(0, -'_bucket'.length);
  // The worker's runtime exports durations in seconds (config/logger.ts: useSecondsForDurations), whatever the name.
  const scale = /_(milliseconds|ms)$/.test(name) ? 1 : 1000;
  const byLe = new Map<number, number>();
  for (const b of buckets.filter((x) => x.name === `${name}_bucket`)) {
    const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + b.value);
  }
  const count = samples.filter((s) => s.name === `${name}_count`).reduce((a, s) => a + s.value, 0);
  const sum = samples.filter((s) => s.name === `${name}_sum`).reduce((a, s) => a + s.value, 0);
  const les = [...byLe.keys()].sort((a, b) => a - b);
  const q = (p: number): number => {
    const rank = p * count;
    for (const le of les) if (byLe.get(le)! >= rank) return le * scale;
    return Infinity;
  };
  return {
    count,
    meanMs: count ? Math.round((sum / count) * scale * 10) / 10 : NaN,
    p50Ms: count ? q(0.5) : NaN,
    p99Ms: count ? q(0.99) : NaN,
  };
}

/** What the benchmarks keep of the SDK's metrics. */
export interface SdkSummary {
  stickyCacheSize?: number;
  stickyCacheHits?: number;
  stickyCacheMisses?: number;
  stickyCacheForcedEvictions?: number;
  workflowTaskScheduleToStart?: HistogramSummary;
  workflowTaskReplay?: HistogramSummary;
  workflowTaskExecution?: HistogramSummary;
  localActivityExecution?: HistogramSummary;
  activityScheduleToStart?: HistogramSummary;
  workflowTaskFailures?: number;
}

/** Summarises a scrape (the SDK's metric names, with or without the `temporal_` prefix and unit suffixes). */
export function sdkSummary(samples: readonly PromSample[]): SdkSummary {
  const s = (re: RegExp): number | undefined => sumOf(samples, re);
  const h = (re: RegExp): HistogramSummary | undefined => histogram(samples, re);
  const out: SdkSummary = {
    stickyCacheSize: s(/^(temporal_)?sticky_cache_size$/),
    stickyCacheHits: s(/^(temporal_)?sticky_cache_hit(_total)?$/),
    stickyCacheMisses: s(/^(temporal_)?sticky_cache_miss(_total)?$/),
    stickyCacheForcedEvictions: s(/^(temporal_)?sticky_cache_total_forced_eviction(_total)?$/),
    workflowTaskScheduleToStart: h(/^(temporal_)?workflow_task_schedule_to_start_latency(_\w+)?$/),
    workflowTaskReplay: h(/^(temporal_)?workflow_task_replay_latency(_\w+)?$/),
    workflowTaskExecution: h(/^(temporal_)?workflow_task_execution_latency(_\w+)?$/),
    localActivityExecution: h(/^(temporal_)?local_activity_execution_latency(_\w+)?$/),
    activityScheduleToStart: h(/^(temporal_)?activity_schedule_to_start_latency(_\w+)?$/),
    workflowTaskFailures: s(/^(temporal_)?workflow_task_execution_failed(_total)?$/),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as SdkSummary;
}
