/**
 * Reading what a workflow did from its history, for the benchmarks: every run of a lifecycle (a continue-as-new chain
 * is followed back to its first run), event counts, activities (regular ones from their ActivityTaskScheduled /
 * Started / closed events, local ones from their MarkerRecorded events), timers with their summary (Temporal keeps a
 * timer's summary in the TimerStarted event's `userMetadata.summary`, a payload decoded here with the default payload
 * converter) and signals. Times are the Temporal server's event times (ms since the epoch); the benchmarks run on one
 * machine, so they compare with the benchmark's own clock.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { quantile, type Spread, spread } from './live';

/** A regular activity: type and the times of its schedule, start and close events. */
export interface ActivityTiming {
  type: string;
  scheduled: number;
  started?: number;
  closed?: number;
}

/** A timer: when it was started, when it was set to fire, when it fired (undefined: cancelled or still running). */
export interface TimerTiming {
  summary?: string;
  started: number;
  target: number;
  fired?: number;
}

/** Everything the benchmarks read from one lifecycle's history. */
export interface LifecycleHistory {
  /** Runs in the chain (1 without continue-as-new). */
  runs: number;
  /** History events across every run. */
  events: number;
  /** Start of the first run. */
  startedAt: number;
  /** Close of the last run (undefined while it runs). */
  closedAt?: number;
  activities: ActivityTiming[];
  /** Local activities (MarkerRecorded `core_local_activity`): type when the marker says it, and the marker's time. */
  localActivities: Array<{ type: string; recorded: number }>;
  timers: TimerTiming[];
  signals: Array<{ name: string; at: number }>;
  /** Workflow tasks completed across every run. */
  workflowTasks: number;
  /** Every workflow task that was started: when it was scheduled, picked up by a worker, and completed (if it was). */
  tasks: TaskTiming[];
  /** Every event: its type (without `EVENT_TYPE_`), time, and the activity type of a marker or schedule. */
  timeline: Array<{ type: string; at: number; detail?: string }>;
}

/** One workflow task: scheduled (queued), started (a worker polled it), completed (its commands came back). */
export interface TaskTiming {
  scheduled: number;
  started: number;
  completed?: number;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;

/** A payload from a history event decoded with the default converter; `undefined` if it cannot be. */
export function decodePayload(p: unknown): unknown {
  if (!p || typeof p !== 'object') return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p as Payload);
  } catch {
    return undefined;
  }
}

type HistoryEvent = NonNullable<
  Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']
>[number];

function localActivityType(ev: HistoryEvent): string {
  const data = ev.markerRecordedEventAttributes?.details?.data?.payloads?.[0];
  const decoded = decodePayload(data) as { activity_type?: unknown; activityType?: unknown } | undefined;
  const t = decoded?.activity_type ?? decoded?.activityType;
  return typeof t === 'string' ? t : '?';
}

/** `WorkflowTaskScheduled` for the enum value `EVENT_TYPE_WORKFLOW_TASK_SCHEDULED` (or its number). */
function eventTypeName(t: unknown): string {
  const name = typeof t === 'number' ? (temporal.api.enums.v1.EventType[t] ?? String(t)) : String(t);
  return name
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
}

/** Adds one run's events to `out`. */
function addRun(out: LifecycleHistory, events: readonly HistoryEvent[]): void {
  const byScheduledId = new Map<string, ActivityTiming>();
  const timerById = new Map<string, TimerTiming>();
  const taskScheduled = new Map<string, number>();
  const taskByStartedId = new Map<string, TaskTiming>();
  out.runs += 1;
  out.events += events.length;
  for (const ev of events) {
    const at = ms(ev.eventTime as never);
    const id = String(ev.eventId);
    const detail = ev.markerRecordedEventAttributes
      ? localActivityType(ev)
      : ev.activityTaskScheduledEventAttributes?.activityType?.name;
    out.timeline.push({ type: eventTypeName(ev.eventType), at, ...(detail ? { detail } : {}) });
    if (ev.workflowExecutionStartedEventAttributes) {
      if (!(out.startedAt <= at)) out.startedAt = at;
    } else if (ev.workflowTaskScheduledEventAttributes) {
      taskScheduled.set(id, at);
    } else if (ev.workflowTaskStartedEventAttributes) {
      const scheduled = taskScheduled.get(String(ev.workflowTaskStartedEventAttributes.scheduledEventId));
      const t: TaskTiming = { scheduled: scheduled ?? at, started: at };
      taskByStartedId.set(id, t);
      out.tasks.push(t);
    } else if (ev.workflowTaskCompletedEventAttributes) {
      out.workflowTasks += 1;
      const t = taskByStartedId.get(String(ev.workflowTaskCompletedEventAttributes.startedEventId));
      if (t) t.completed = at;
    } else if (ev.activityTaskScheduledEventAttributes) {
      const a = { type: ev.activityTaskScheduledEventAttributes.activityType?.name ?? '?', scheduled: at };
      byScheduledId.set(id, a);
      out.activities.push(a);
    } else if (ev.activityTaskStartedEventAttributes) {
      const a = byScheduledId.get(String(ev.activityTaskStartedEventAttributes.scheduledEventId));
      if (a) a.started = at;
    } else if (ev.markerRecordedEventAttributes) {
      if (ev.markerRecordedEventAttributes.markerName === 'core_local_activity')
        out.localActivities.push({ type: localActivityType(ev), recorded: at });
    } else if (ev.timerStartedEventAttributes) {
      const summary = decodePayload(ev.userMetadata?.summary);
      const t: TimerTiming = {
        started: at,
        target: at + ms(ev.timerStartedEventAttributes.startToFireTimeout as never),
        ...(typeof summary === 'string' ? { summary } : {}),
      };
      timerById.set(ev.timerStartedEventAttributes.timerId ?? '', t);
      out.timers.push(t);
    } else if (ev.timerFiredEventAttributes) {
      const t = timerById.get(ev.timerFiredEventAttributes.timerId ?? '');
      if (t) t.fired = at;
    } else if (ev.workflowExecutionSignaledEventAttributes) {
      out.signals.push({ name: ev.workflowExecutionSignaledEventAttributes.signalName ?? '?', at });
    } else if (
      ev.workflowExecutionCompletedEventAttributes ||
      ev.workflowExecutionFailedEventAttributes ||
      ev.workflowExecutionTerminatedEventAttributes ||
      ev.workflowExecutionCanceledEventAttributes ||
      ev.workflowExecutionTimedOutEventAttributes ||
      ev.workflowExecutionContinuedAsNewEventAttributes
    ) {
      out.closedAt = at;
    } else {
      const closed =
        ev.activityTaskCompletedEventAttributes ??
        ev.activityTaskFailedEventAttributes ??
        ev.activityTaskTimedOutEventAttributes ??
        ev.activityTaskCanceledEventAttributes;
      if (closed) {
        const a = byScheduledId.get(String(closed.scheduledEventId));
        if (a) a.closed = at;
      }
    }
  }
}

/**
 * Reads the whole lifecycle of `workflowId`: its latest run, then each run it continued from
 * (`continuedExecutionRunId` of the WorkflowExecutionStarted event), back to the first one. `maxRuns` bounds the walk.
 * Activities, timers and signals come in time order.
 */
export async function lifecycleHistory(client: Client, workflowId: string, maxRuns = 1000): Promise<LifecycleHistory> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (let i = 0; i < maxRuns; i++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push(events);
    const prev = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!prev) break;
    runId = prev;
  }
  const out: LifecycleHistory = {
    runs: 0,
    events: 0,
    startedAt: NaN,
    activities: [],
    localActivities: [],
    timers: [],
    signals: [],
    workflowTasks: 0,
    tasks: [],
    timeline: [],
  };
  for (const events of runs.reverse()) {
    delete out.closedAt; // the last run's close is the lifecycle's
    addRun(out, events);
  }
  out.activities.sort((a, b) => a.scheduled - b.scheduled);
  out.timers.sort((a, b) => a.started - b.started);
  out.signals.sort((a, b) => a.at - b.at);
  return out;
}

/** One workflow task per lifecycle: queue = started − scheduled, run = completed − started, local-activity markers in it (median). */
export interface TaskFigures {
  queue: Spread;
  run: Spread;
  localActivities: number;
}

/** The workflow task each lifecycle scheduled at or after `after` (e.g. its timer's firing), as {@link TaskFigures}. */
export function taskFigures(xs: ReadonlyArray<{ h: LifecycleHistory; after: number | undefined }>): TaskFigures {
  const queue: number[] = [];
  const run: number[] = [];
  const markers: number[] = [];
  for (const { h, after } of xs) {
    if (after === undefined) continue;
    const i = h.tasks.findIndex((t) => t.scheduled >= after);
    const t = h.tasks[i];
    if (!t || t.completed === undefined) continue;
    queue.push(t.started - t.scheduled);
    run.push(t.completed - t.started);
    markers.push(h.localActivities.filter((a) => a.recorded >= t.started && a.recorded <= t.completed!).length);
  }
  return { queue: spread(queue), run: spread(run), localActivities: quantile(markers, 0.5) };
}
