/**
 * Text rendering of the CLI's output: the `list` table and the multi-line `status` story. Pure functions (the current
 * time is a parameter), so the output is testable without a server.
 */
import { formatBytes, formatDuration, safeText, UNSAFE_TEXT_CHARS } from '../../domain';
import type { DecisionRecord, StatusQueryResult } from '../../workflows/messages';

/**
 * Stored text as the terminal may see it: decisions, reasons and names come from whoever sent a signal or update (and
 * from runs older than the workflow's own bounds), so control characters, escape sequences and line breaks that could
 * forge an output line are replaced and very long values are cut.
 */
export function shown(text: unknown, maxChars = 2000): string {
  return text === undefined || text === null ? '' : safeText(String(text), maxChars);
}

const UNSAFE_IN_JSON = new RegExp(`[${UNSAFE_TEXT_CHARS}]`, 'g');

/**
 * `value` as indented JSON for the terminal: the same document, but every character {@link shown} would replace is
 * written as a `\uXXXX` escape, so a value from a workflow or a provider can neither drive the terminal nor disguise
 * itself, and `jq` reads it unchanged. JSON.stringify escapes C0 controls in strings itself (the raw ones in its output
 * are the indentation's) but leaves DEL, C1 controls and the Unicode format characters raw; those only occur in strings.
 */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) =>
    c < ' ' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )}\n`;
}

/** One row of `list`: an entry's workflow as Temporal visibility sees it. */
export interface EntryRow {
  entry: string;
  workflowId: string;
  runId: string;
  /** Workflow execution status (`Running`, `Completed`, ...). */
  status: string;
  type?: string;
  phase?: string;
  bucket?: string;
  /** RFC3339 time the backups are deleted (the `DeletionScheduledAt` search attribute), while retaining. */
  deletionDue?: string;
}

/** Progress of a running deletion, from the pending `deleteBackups` activity's last heartbeat. */
export interface DeletionProgressView {
  deletedObjects: number;
  deletedBytes: number;
  listedObjects: number;
  lockedObjects: number;
  rewrittenObjects: number;
  attempt: number;
  /** RFC3339 time of the last heartbeat. */
  lastHeartbeatAt?: string;
}

/** What `status` shows: the workflow's own view plus what only Temporal knows (run, execution status, progress). */
export interface StatusCommandOutput {
  workflowId: string;
  runId: string;
  /** Workflow execution status (`Running`, `Completed`, ...). */
  executionStatus: string;
  view: StatusQueryResult;
  progress?: DeletionProgressView;
}

export { formatBytes };

/** `in 59m58s` / `3m ago` relative to `nowMs`, to the second. */
export function formatRelative(atMs: number, nowMs: number): string {
  const delta = Math.round((atMs - nowMs) / 1000) * 1000;
  if (delta === 0) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** A plain-text table: a header row and left-aligned columns separated by two spaces; `-` for empty cells. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | undefined)[])[]): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => shown(r[i], 256) || '-'))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/**
 * The `list` table: ENTRY, TYPE, PHASE, BUCKET, DELETION DUE (with a relative time, and `OVERDUE` when a retaining
 * entry's deadline has passed: its deletion should have started), one row per entry.
 */
export function formatEntryTable(rows: readonly EntryRow[], nowMs: number): string {
  if (rows.length === 0) return 'No BackupEntry workflows match.\n';
  return formatTable(
    ['ENTRY', 'TYPE', 'PHASE', 'BUCKET', 'DELETION DUE'],
    rows.map((r) => {
      const due = r.deletionDue ? Date.parse(r.deletionDue) : undefined;
      const overdue = due !== undefined && due < nowMs && r.phase === 'Retaining' ? ', OVERDUE' : '';
      return [
        r.entry,
        r.type,
        r.phase ?? r.status,
        r.bucket,
        r.deletionDue ? `${r.deletionDue} (${formatRelative(due!, nowMs)}${overdue})` : undefined,
      ];
    }),
  );
}

/** One decision log line: `<at>  <action> by <who>: <reason> → <outcome>`. */
export function formatDecision(d: DecisionRecord): string {
  return `${shown(d.at, 40)}  ${shown(d.action, 40)} by ${shown(d.by)}: ${shown(d.reason)} → ${shown(d.outcome)}`;
}

/**
 * The readable, multi-line `status` story of an entry: phase and summary, where its backups are, the deletion
 * deadline (with its source and a relative time), the inventory, the last operation and error, deletion progress or
 * receipt, and the decision log with who asked and why. Lines without data are left out.
 */
export function formatStatus(r: StatusCommandOutput, nowMs: number): string {
  const v = r.view;
  const lines: [string, string][] = [];
  const add = (k: string, val: string | undefined): void => {
    if (val) lines.push([k, shown(val)]);
  };
  add('Entry', v.entryName);
  add('Workflow', `${r.workflowId} (run ${r.runId}, ${r.executionStatus})`);
  add('Phase', v.phase);
  add('Summary', v.summary);
  add('Type', v.type);
  add('Bucket', v.bucket ? `${v.bucket}${v.prefix ? `, prefix ${v.prefix}` : ''}` : undefined);
  add('Shoot namespace', v.namespace);
  if (v.deletionScheduledAt) {
    const ret = !v.retention
      ? ''
      : v.retention.source === 'extended'
        ? `; retention ${formatDuration(v.retention.periodMs)}, deadline since extended`
        : `; retention ${formatDuration(v.retention.periodMs)} (${v.retention.source})`;
    add('Deletion due', `${v.deletionScheduledAt} (${formatRelative(Date.parse(v.deletionScheduledAt), nowMs)}${ret})`);
  }
  if (v.inventory) {
    add(
      'Inventory',
      `${v.inventory.objects.toLocaleString('en-US')} objects, ${formatBytes(v.inventory.bytes)}` +
        `${v.inventory.truncated ? ' (at least; counting stopped at the limit)' : ''}`,
    );
  }
  if (v.lastOperation) {
    const o = v.lastOperation;
    add('Last operation', `${o.type} ${o.state} at ${o.at}: ${o.description}`);
  }
  if (v.lastError)
    add(
      'Last error',
      `${v.lastError.message}${v.lastError.codes.length ? ` [${v.lastError.codes.join(', ')}]` : ''} at ${v.lastError.at}`,
    );
  const live = !['Retaining', 'Deleting', 'Deleted', 'Kept', 'Orphaned', 'Migrated'].includes(v.phase); // the secret goes at deletion
  if (v.etcdBackupSecret && live)
    add(
      'etcd-backup secret',
      `${v.etcdBackupSecret.namespace}/${v.etcdBackupSecret.name} (digest ${v.etcdBackupSecret.digest})`,
    );
  if (r.progress) {
    const p = r.progress;
    add(
      'Deletion progress',
      `${p.deletedObjects.toLocaleString('en-US')} objects (${formatBytes(p.deletedBytes)}) deleted, ` +
        `${p.listedObjects.toLocaleString('en-US')} listed, ${p.lockedObjects} locked, ${p.rewrittenObjects} rewritten; attempt ${p.attempt}` +
        `${p.lastHeartbeatAt ? `, last heartbeat ${formatRelative(Date.parse(p.lastHeartbeatAt), nowMs)}` : ''}`,
    );
  }
  if (v.deletion) {
    const d = v.deletion;
    add(
      'Deletion',
      `${d.deletedObjects.toLocaleString('en-US')} objects (${formatBytes(d.deletedBytes)}) deleted in ` +
        `${formatDuration(Math.max(1000, Math.round(d.durationMs / 1000) * 1000))}, ${d.remainingObjects} remaining` +
        `${d.remainingObjects ? ` (${d.lockedObjects} locked for lifecycle expiry, ${d.rewrittenObjects} rewritten during deletion)` : ''}`,
    );
  }
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  const out = lines.map(([k, val]) => `${`${k}:`.padEnd(width)}${val}`);
  out.push(v.decisions.length ? `Decisions (${v.decisions.length}):` : 'Decisions: none yet');
  for (const d of v.decisions) out.push(`  ${formatDecision(d)}`);
  return `${out.join('\n')}\n`;
}
