/**
 * The CLI's verbs as plain functions over a Temporal {@link Client} and output streams, so tests call them directly
 * and `program.ts` only parses arguments. Reading: Temporal visibility (`list`) and the workflow's `status` query.
 * Changing: workflow updates (`expedite`, `cancelCleanup`, `extendRetention`), whose validators refuse what does not
 * apply; a refusal becomes a {@link CliError} with exit code 2 and the validator's message.
 */
import {
  type Client,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { Phase, parseDuration, parseRfc3339, parseWorkflowId, workflowIdFor } from '../../domain';
import type { BackupEntryWorkflowResult } from '../../workflows/backup-entry-workflow';
import {
  type DecisionRecord,
  type StatusQueryResult,
  cancelCleanupUpdate,
  expediteUpdate,
  extendRetentionUpdate,
  statusQuery,
} from '../../workflows/messages';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from '../../workflows/search-attributes';
import { CliError, failed, refused } from './errors';
import {
  type DeletionProgressView,
  type EntryRow,
  type StatusCommandOutput,
  formatBytes,
  formatDecision,
  formatEntryTable,
  formatStatus,
  jsonText,
  shown,
} from './format';

/** Workflow type name of the BackupEntry workflow (the exported function's name), as visibility records it. */
export const WORKFLOW_TYPE = 'backupEntryWorkflow';

/** Where the CLI writes: anything with `write(text)`, e.g. `process.stdout` or a test's buffer. */
export interface OutputStream {
  write(text: string): unknown;
}

/** Output format of a verb: human-readable text or one JSON document. */
export type OutputFormat = 'table' | 'json';

/** Everything a verb needs: the client, the seed's identity, defaults, and where to write. */
export interface CliContext {
  client: Client;
  /** Same as the worker's `BEL_CLUSTER_IDENTITY`: workflow IDs are `backupentry/<clusterIdentity>/<entry>`. */
  clusterIdentity: string;
  /** Who asks, when `--by`/`--as` is not given (`$USER`, else `unknown`). */
  user: string;
  /** How long to wait for the worker to answer a query or update before failing with exit code 1. */
  timeoutMs: number;
  /** Results: the table, the status story, JSON documents. */
  out: OutputStream;
  /** Diagnostics: refusals, errors and progress of long waits. */
  err: OutputStream;
  /** Clock for relative times (tests pin it); default `Date.now`. */
  now?: () => number;
  /** Interval of "still waiting" progress lines on `err`; default 5 s. */
  progressIntervalMs?: number;
}

// --- list ------------------------------------------------------------------------------------------------------------

/** Options of {@link listEntries}. */
export interface ListOptions {
  /**
   * Only entries in this phase (`BackupEntryPhase = "<phase>"`).
   * @default undefined (every phase)
   */
  phase?: Phase;
  /**
   * Include other seeds' workflows in the namespace.
   * @default false (only `backupentry/<clusterIdentity>/...`)
   */
  allClusters?: boolean;
  /**
   * Only running workflows.
   * @default false (running and finished ones, without runs that continued as new)
   */
  running?: boolean;
  /**
   * At most this many rows.
   * @default 1000
   */
  limit?: number;
  /**
   * A table or a JSON array of {@link EntryRow}.
   * @default 'table'
   */
  output?: OutputFormat;
  /**
   * Only retaining entries whose deletion is due within this many milliseconds from now, overdue ones included
   * (their deadline has passed but the deletion has not started), sorted by deadline, soonest first.
   * @default undefined (no deadline filter)
   */
  dueWithinMs?: number;
  /**
   * Only retaining entries whose deadline has passed (the deletion should have started), most overdue first.
   * @default false
   */
  overdue?: boolean;
}

/** The phase named by `text`, case-insensitively; a {@link CliError} (exit 2) listing the phases otherwise. */
export function parsePhase(text: string): Phase {
  const found = Object.values(Phase).find((p) => p.toLowerCase() === text.trim().toLowerCase());
  if (!found) throw refused(`unknown phase "${text}"; use one of ${Object.values(Phase).join(', ')}`);
  return found;
}

/**
 * The visibility query behind `list`: the BackupEntry workflow type, this seed's workflow IDs (unless
 * `allClusters`), no runs that continued as new (their successor is listed), and optionally a phase or running only.
 * `dueWithinMs` / `overdue` ask for running, retaining workflows whose `DeletionScheduledAt` (the deadline, set only
 * while retaining) is at most `nowMs + dueWithinMs` / before `nowMs`.
 */
export function buildListQuery(
  clusterIdentity: string,
  opts: Pick<ListOptions, 'phase' | 'allClusters' | 'running' | 'dueWithinMs' | 'overdue'> = {},
  nowMs = Date.now(),
): string {
  const byDeadline = opts.dueWithinMs !== undefined || !!opts.overdue;
  const parts = [`WorkflowType = "${WORKFLOW_TYPE}"`];
  if (!opts.allClusters) parts.push(`WorkflowId STARTS_WITH "backupentry/${clusterIdentity}/"`);
  parts.push(opts.running || byDeadline ? 'ExecutionStatus = "Running"' : 'ExecutionStatus != "ContinuedAsNew"');
  const phase = byDeadline ? Phase.Retaining : opts.phase;
  if (phase) parts.push(`${BACKUP_ENTRY_PHASE.name} = "${phase}"`);
  const at = (ms: number): string => new Date(ms).toISOString();
  if (opts.overdue) parts.push(`${DELETION_SCHEDULED_AT.name} < "${at(nowMs)}"`);
  else if (opts.dueWithinMs !== undefined)
    parts.push(`${DELETION_SCHEDULED_AT.name} <= "${at(nowMs + opts.dueWithinMs)}"`);
  return parts.join(' AND ');
}

/** Rows by deletion deadline, soonest (most overdue) first; rows without one last, in their order. */
export function sortByDeadline(rows: readonly EntryRow[]): EntryRow[] {
  const due = (r: EntryRow): number => (r.deletionDue ? Date.parse(r.deletionDue) : Infinity);
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => due(a.r) - due(b.r) || a.i - b.i)
    .map((x) => x.r);
}

/**
 * `list`: the BackupEntry workflows from Temporal visibility (newest first), written as a table (ENTRY, TYPE, PHASE,
 * BUCKET, DELETION DUE) or a JSON array of {@link EntryRow}. Returns the rows.
 */
export async function listEntries(ctx: CliContext, opts: ListOptions = {}): Promise<EntryRow[]> {
  const limit = opts.limit ?? 1000;
  const byDeadline = opts.dueWithinMs !== undefined || !!opts.overdue;
  const query = buildListQuery(ctx.clusterIdentity, opts, now(ctx));
  let rows: EntryRow[] = [];
  for await (const wf of ctx.client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
    const sa = wf.typedSearchAttributes;
    const due = sa.get(DELETION_SCHEDULED_AT);
    const type = sa.get(BACKUP_ENTRY_TYPE);
    const phase = sa.get(BACKUP_ENTRY_PHASE);
    const bucket = sa.get(BACKUP_BUCKET);
    rows.push({
      entry: sa.get(BACKUP_ENTRY_NAME) ?? parseWorkflowId(wf.workflowId)?.entryName ?? wf.workflowId,
      workflowId: wf.workflowId,
      runId: wf.runId,
      status: statusName(wf.status.name),
      ...(type ? { type } : {}),
      ...(phase ? { phase } : {}),
      ...(bucket ? { bucket } : {}),
      ...(due ? { deletionDue: due.toISOString().replace(/\.000Z$/, 'Z') } : {}),
    });
    if (rows.length >= limit && !byDeadline) break; // by deadline: every match, sorted, then the first `limit`
  }
  if (byDeadline) rows = sortByDeadline(rows).slice(0, limit);
  ctx.out.write(opts.output === 'json' ? jsonText(rows) : formatEntryTable(rows, now(ctx)));
  return rows;
}

// --- status ----------------------------------------------------------------------------------------------------------

/** Options of {@link entryStatus}. */
export interface StatusOptions {
  /**
   * The readable story or JSON ({@link StatusCommandOutput}).
   * @default 'table'
   */
  output?: OutputFormat;
}

/**
 * `status <entry>`: the workflow's `status` query (phase, deadline, inventory, last operation, receipt, decision log)
 * plus the run, its execution status and, while deleting, progress from the `deleteBackups` heartbeat. Written as a
 * readable story or as JSON ({@link StatusCommandOutput}). Fails (exit 1) when the entry has no workflow.
 */
export async function entryStatus(
  ctx: CliContext,
  entry: string,
  opts: StatusOptions = {},
): Promise<StatusCommandOutput> {
  const handle = handleFor(ctx, entry);
  const report = await waitForWorker(ctx, `the status of ${entry}`, async () => {
    const description = await handle.describe();
    const view = await handle.query(statusQuery);
    const progress = await deletionProgress(ctx, description.raw.pendingActivities ?? []);
    return {
      workflowId: handle.workflowId,
      runId: description.runId,
      executionStatus: statusName(description.status.name),
      view,
      ...(progress ? { progress } : {}),
    } satisfies StatusCommandOutput;
  }).catch((e: unknown) => rethrow(ctx, e, handle, entry, 'show'));
  ctx.out.write(opts.output === 'json' ? jsonText(report) : formatStatus(report, now(ctx)));
  return report;
}

interface PendingActivityLike {
  activityType?: { name?: string | null } | null;
  heartbeatDetails?: { payloads?: Payload[] | null } | null;
  attempt?: number | null;
  lastHeartbeatTime?: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null;
}

/** Deletion progress from the pending `deleteBackups` activity's heartbeat details, if it is running and has beaten. */
async function deletionProgress(
  ctx: CliContext,
  pending: readonly PendingActivityLike[],
): Promise<DeletionProgressView | undefined> {
  const act = pending.find((a) => a.activityType?.name === 'deleteBackups');
  const payload = act?.heartbeatDetails?.payloads?.[0];
  if (!act || !payload) return undefined;
  const converter = ctx.client.workflow.options.loadedDataConverter;
  let payloads = [payload];
  for (const codec of [...converter.payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  const d = converter.payloadConverter.fromPayload<Record<string, unknown>>(payloads[0]!);
  const n = (k: string): number => (typeof d?.[k] === 'number' ? d[k] : 0);
  const secs = act.lastHeartbeatTime?.seconds;
  return {
    deletedObjects: n('deletedObjects'),
    deletedBytes: n('deletedBytes'),
    listedObjects: n('listedObjects'),
    lockedObjects: n('lockedObjects'),
    rewrittenObjects: n('rewrittenObjects'),
    attempt: act.attempt ?? 1,
    ...(secs != null
      ? { lastHeartbeatAt: new Date(Number(secs.toString()) * 1000).toISOString().replace(/\.000Z$/, 'Z') }
      : {}),
  };
}

// --- changes ---------------------------------------------------------------------------------------------------------

/** Options of {@link expediteEntry} and {@link cancelCleanupEntry}. */
export interface OperatorOptions {
  /** Why (required; recorded in the decision log). */
  reason: string;
  /**
   * Who asks.
   * @default {@link CliContext.user}
   */
  by?: string;
  /**
   * After the update is accepted, wait until the workflow ends (showing progress) and report how it ended.
   * @default false
   */
  wait?: boolean;
  /**
   * Give up waiting after this long (exit 1).
   * @default 1_800_000 (30 minutes)
   */
  waitTimeoutMs?: number;
  /**
   * The recorded decision (and with `wait`, how the workflow ended) as lines or as JSON.
   * @default 'table'
   */
  output?: OutputFormat;
}

/** Options of {@link extendEntry}: exactly one of `by` (a duration) and `until` (RFC3339). */
export interface ExtendOptions {
  reason: string;
  /**
   * Move the deadline later by this Go duration (`24h`, `1h30m`).
   * @default undefined (then `until` is required)
   */
  by?: string;
  /**
   * Move the deadline to this RFC3339 time.
   * @default undefined (then `by` is required)
   */
  until?: string;
  /**
   * Who asks.
   * @default {@link CliContext.user}
   */
  as?: string;
  /**
   * The recorded decision as lines or as JSON.
   * @default 'table'
   */
  output?: OutputFormat;
}

/**
 * `expedite <entry>`: ends the retention wait now, so the worker deletes the backups. Refused (exit 2) unless the
 * entry is retaining. Writes the recorded decision (and with `wait`, how the workflow ended); returns the decision.
 */
export async function expediteEntry(ctx: CliContext, entry: string, opts: OperatorOptions): Promise<DecisionRecord> {
  const handle = handleFor(ctx, entry);
  const decision = await update(ctx, handle, entry, 'expedite', () =>
    handle.executeUpdate(expediteUpdate, {
      args: [{ reason: requireReason(opts.reason), by: opts.by?.trim() || ctx.user }],
    }),
  );
  return report(ctx, handle, entry, decision, opts);
}

/**
 * `cancel-cleanup <entry>`: keeps every backup object, releases the finalizers and ends the workflow `Kept`.
 * Refused (exit 2) unless the entry is retaining or deleting. Writes and returns the recorded decision.
 */
export async function cancelCleanupEntry(
  ctx: CliContext,
  entry: string,
  opts: OperatorOptions,
): Promise<DecisionRecord> {
  const handle = handleFor(ctx, entry);
  const decision = await update(ctx, handle, entry, 'cancel cleanup of', () =>
    handle.executeUpdate(cancelCleanupUpdate, {
      args: [{ reason: requireReason(opts.reason), by: opts.by?.trim() || ctx.user }],
    }),
  );
  return report(ctx, handle, entry, decision, opts);
}

/**
 * `extend <entry>`: moves the retention deadline later (never earlier). The duration or time is checked here first
 * (exit 2 when malformed or when both or neither are given); the workflow refuses (exit 2) a deadline that is not
 * later or an entry that is not retaining. Writes and returns the recorded decision.
 */
export async function extendEntry(ctx: CliContext, entry: string, opts: ExtendOptions): Promise<DecisionRecord> {
  if ((opts.by === undefined) === (opts.until === undefined))
    throw refused('give exactly one of --by <duration> and --until <RFC3339 time>');
  if (opts.by !== undefined) {
    const d = parseDuration(opts.by);
    if (!d.ok) throw refused(`--by: ${d.error.message}`);
  }
  if (opts.until !== undefined) {
    const t = parseRfc3339(opts.until);
    if (!t.ok) throw refused(`--until: ${t.error.message}`);
  }
  const handle = handleFor(ctx, entry);
  const decision = await update(ctx, handle, entry, 'extend the retention of', () =>
    handle.executeUpdate(extendRetentionUpdate, {
      args: [
        {
          reason: requireReason(opts.reason),
          ...(opts.by !== undefined ? { by: opts.by } : { until: opts.until! }),
          requestedBy: opts.as?.trim() || ctx.user,
        },
      ],
    }),
  );
  return report(ctx, handle, entry, decision, { ...opts, wait: false });
}

// --- helpers ---------------------------------------------------------------------------------------------------------

function now(ctx: CliContext): number {
  return (ctx.now ?? Date.now)();
}

/** `CONTINUED_AS_NEW` → `ContinuedAsNew`, as the Web UI and visibility queries spell execution statuses. */
function statusName(name: string): string {
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

function requireReason(reason: string | undefined): string {
  if (!reason?.trim())
    throw refused("--reason is required: who asked and why are recorded in the entry's decision log");
  return reason;
}

function handleFor(ctx: CliContext, entry: string): WorkflowHandle {
  const id = workflowIdFor(ctx.clusterIdentity, entry);
  if (!id.ok) throw refused(id.error.message);
  return ctx.client.workflow.getHandle(id.value);
}

async function update(
  ctx: CliContext,
  handle: WorkflowHandle,
  entry: string,
  what: string,
  run: () => Promise<DecisionRecord>,
): Promise<DecisionRecord> {
  return waitForWorker(ctx, `the request to ${what} ${entry}`, run).catch((e: unknown) =>
    rethrow(ctx, e, handle, entry, what),
  );
}

/** Maps Temporal's errors to what an operator needs to read; always throws. */
async function rethrow(
  ctx: CliContext,
  e: unknown,
  handle: WorkflowHandle,
  entry: string,
  what: string,
): Promise<never> {
  if (e instanceof CliError) throw e;
  if (e instanceof WorkflowUpdateFailedError) {
    throw refused(`refused: ${shown((e.cause as Error | undefined)?.message ?? e.message)}`);
  }
  if (e instanceof WorkflowNotFoundError) {
    const d = await handle.describe().catch(() => undefined);
    if (d) {
      const phase = d.typedSearchAttributes.get(BACKUP_ENTRY_PHASE);
      throw refused(
        `refused: the workflow of ${entry} has already ended (${statusName(d.status.name)}${phase ? `, phase ${shown(phase, 40)}` : ''}); nothing to ${what.split(' ')[0]}`,
      );
    }
    throw failed(
      `no workflow for entry ${entry} (workflow ID ${handle.workflowId} in namespace ${ctx.client.options.namespace}); ` +
        'check the entry name and BEL_CLUSTER_IDENTITY',
    );
  }
  const msg = e instanceof Error ? e.message : String(e);
  throw failed(`could not ${what.startsWith('the request') ? what : `${what} ${entry}`}: ${shown(msg)}`);
}

/**
 * Runs `fn` (calls that need a worker to answer), writing a progress line to `err` every few seconds and failing
 * with exit code 1 after `ctx.timeoutMs`, so a missing worker never leaves the operator staring at nothing.
 */
async function waitForWorker<T>(ctx: CliContext, what: string, fn: () => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const t0 = now(ctx);
  const every = ctx.progressIntervalMs ?? 5000;
  const ticker = setInterval(() => {
    ctx.err.write(`… still waiting for a worker to answer ${what} (${Math.round((now(ctx) - t0) / 1000)} s)\n`);
  }, every);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(
        failed(
          `no answer to ${what} within ${Math.round(ctx.timeoutMs / 1000)} s: is the worker running ` +
            `(same TEMPORAL_ADDRESS, namespace ${ctx.client.options.namespace} and task queue)? (BEL_CLI_TIMEOUT sets the wait)`,
        ),
      );
    }, ctx.timeoutMs);
  });
  try {
    return await Promise.race([ctx.client.withAbortSignal(abort.signal, fn), timeout]);
  } finally {
    clearInterval(ticker);
    clearTimeout(timer);
  }
}

/** Writes an accepted decision, and with `wait`, follows the workflow to its end. */
async function report(
  ctx: CliContext,
  handle: WorkflowHandle,
  entry: string,
  decision: DecisionRecord,
  opts: Pick<OperatorOptions, 'wait' | 'waitTimeoutMs' | 'output'>,
): Promise<DecisionRecord> {
  let result: BackupEntryWorkflowResult | undefined;
  if (opts.output !== 'json')
    ctx.out.write(`${shown(entry)}: ${shown(decision.outcome)}\n  recorded ${formatDecision(decision)}\n`);
  if (opts.wait)
    result = await followToEnd(ctx, handle, entry, opts.waitTimeoutMs ?? 30 * 60_000, opts.output === 'json');
  if (opts.output === 'json') ctx.out.write(jsonText(result ? { decision, result } : decision));
  return decision;
}

/**
 * Waits for the workflow's result, writing each phase change (and every `progressIntervalMs` a "still ..." line,
 * with deletion progress when there is some) to `err`; writes how it ended to `out` (to `err` in JSON mode, where the
 * caller writes the result as JSON).
 */
async function followToEnd(
  ctx: CliContext,
  handle: WorkflowHandle,
  entry: string,
  timeoutMs: number,
  json: boolean,
): Promise<BackupEntryWorkflowResult> {
  const abort = new AbortController();
  const t0 = now(ctx);
  const every = ctx.progressIntervalMs ?? 5000;
  const done = ctx.client
    .withAbortSignal(abort.signal, () => handle.result() as Promise<BackupEntryWorkflowResult>)
    .then(
      (r) => ({ r }),
      (error: unknown) => ({ error }),
    );
  let lastPhase = '';
  let lastLine = t0;
  try {
    for (;;) {
      const next = await Promise.race([done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
      if (next && 'r' in next) {
        const r = next.r;
        const receipt = r.deletion
          ? `: ${shown(r.deletion.deletedObjects, 40)} objects (${shown(formatBytes(r.deletion.deletedBytes), 40)}) ` +
            `deleted, ${shown(r.deletion.remainingObjects, 40)} remaining`
          : '';
        (json ? ctx.err : ctx.out).write(
          `${shown(entry)}: workflow ended ${shown(r.phase, 40)} (${shown(r.outcome)})${receipt}\n`,
        );
        return r;
      }
      if (next && 'error' in next) {
        const e = next.error;
        const cause =
          e instanceof WorkflowFailedError
            ? (e.cause?.message ?? e.message)
            : e instanceof Error
              ? e.message
              : String(e);
        throw failed(`the workflow of ${entry} did not end well: ${shown(cause)}`);
      }
      const elapsed = now(ctx) - t0;
      if (elapsed > timeoutMs)
        throw failed(
          `gave up waiting for ${entry} after ${Math.round(elapsed / 1000)} s; it continues in the background`,
        );
      const v: StatusQueryResult | undefined = await handle.query(statusQuery).catch(() => undefined);
      if (v && v.phase !== lastPhase) {
        lastPhase = v.phase;
        lastLine = now(ctx);
        ctx.err.write(`${shown(entry)}: ${shown(v.phase, 40)} — ${shown(v.summary)}\n`);
      } else if (now(ctx) - lastLine >= every) {
        lastLine = now(ctx);
        const desc = await handle.describe().catch(() => undefined);
        const p = desc
          ? await deletionProgress(ctx, desc.raw.pendingActivities ?? []).catch(() => undefined)
          : undefined;
        ctx.err.write(
          `… still ${shown(lastPhase, 40) || 'waiting'} after ${Math.round(elapsed / 1000)} s` +
            `${p ? `: ${p.deletedObjects} objects (${formatBytes(p.deletedBytes)}) deleted so far` : ''}\n`,
        );
      }
    }
  } finally {
    abort.abort();
  }
}
