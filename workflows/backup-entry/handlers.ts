/**
 * Signals, updates and the query. Handlers validate and change state, nothing else: every write is the loop's. An
 * update that must be durable before it returns waits until the loop has persisted past its sequence number (and a
 * cancel-cleanup for the loop's answer: a deletion that completed meanwhile refuses it). Every payload is validated
 * (domain/operator-input.ts): an update is refused with the reason, a signal leaves a refusal note in the decision
 * log. No handler throws anything but a refusal, so no payload can fail a workflow task.
 */
import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import {
  MAX_ACTOR_CHARS,
  MAX_REASON_CHARS,
  Phase,
  extendDeadline,
  parseExtendRequest,
  parseOperatorRequest,
  reconcileReason,
  safeText,
  type CleanExtendRequest,
  type Result,
} from '../../domain';
import {
  type DecisionRecord,
  cancelCleanupSignal,
  cancelCleanupUpdate,
  expediteSignal,
  expediteUpdate,
  extendRetentionSignal,
  extendRetentionUpdate,
  reconcileSignal,
  statusQuery,
} from '../messages';
import { type Run, record } from './context';
import { applyExpedite, applyExtend, requestCancel } from './requests';
import { deletionMsOf } from './state';
import { statusView } from './view';

type Extend = { req: CleanExtendRequest; target: number };

export function registerHandlers(run: Run): void {
  const { s } = run;
  const check = checks(run);
  setHandler(
    reconcileSignal,
    (intent: unknown) => {
      s.dirty = true;
      log.debug('Reconcile intent', { entry: run.name, reason: reconcileReason(intent) });
    },
    {
      description: 'Watcher: the BackupEntry changed; re-read it and act (payload: {reason}; any payload is accepted).',
    },
  );
  setHandler(expediteUpdate, (raw: unknown) => applyExpedite(run, orRefuse(check.expedite(raw))), {
    validator: (raw: unknown) => void orRefuse(check.expedite(raw)),
    description: 'End the retention period now and delete the backups. Input: {"reason": "...", "by": "..."}.',
  });
  setHandler(
    expediteSignal,
    (raw: unknown) => onSignal(run, 'expedite', raw, check.expedite(raw), (r) => applyExpedite(run, r)),
    {
      description: 'Signal form of expedite: ends retention now; recorded as a note when it does not apply.',
    },
  );
  setHandler(cancelCleanupUpdate, (raw: unknown) => cancelAndWait(run, orRefuse(check.cancel(raw))), {
    validator: (raw: unknown) => void orRefuse(check.cancel(raw)),
    description:
      'Keep every backup object of this deleted entry, release the finalizers and end as Kept. Input: {"reason": "...", "by": "..."}.',
  });
  setHandler(
    cancelCleanupSignal,
    (raw: unknown) => onSignal(run, 'cancel-cleanup', raw, check.cancel(raw), (r) => requestCancel(run, r, false)),
    {
      description: 'Signal form of cancelCleanup: keeps the backups; recorded as a note when it does not apply.',
    },
  );
  setHandler(extendRetentionUpdate, (raw: unknown) => extendAndWait(run, orRefuse(check.extend(raw))), {
    validator: (raw: unknown) => void orRefuse(check.extend(raw)),
    description:
      'Move the retention deadline later, never earlier. At most 10 years after the deletion. Input: {"by": "24h"} or {"until": "2026-12-01T00:00:00Z"}, plus "reason" and optionally "requestedBy".',
  });
  setHandler(
    extendRetentionSignal,
    (raw: unknown) => onSignal(run, 'extend', raw, check.extend(raw), (r) => applyExtend(run, r)),
    {
      description: 'Signal form of extendRetention; recorded as a note when it does not apply.',
    },
  );
  setHandler(statusQuery, () => statusView(run.name, s, run.identity, run.prefix), {
    description: 'Phase, deletion deadline, inventory, last operation, deletion receipt and decision log.',
  });
}

/** The validations: the payload's shape first, then whether it applies now. */
function checks(run: Run) {
  const { s, name } = run;
  const applies = <T>(parsed: Result<T, string>, why: () => string | undefined): Result<T, string> => {
    if (!parsed.ok) return parsed;
    const no = why();
    return no ? { ok: false, error: no } : parsed;
  };
  return {
    expedite: (raw: unknown) =>
      applies(parseOperatorRequest(raw), () => {
        if (s.phase === Phase.Deleting) return `entry ${name} is already deleting its backups`;
        if (s.phase !== Phase.Retaining)
          return `entry ${name} is not being deleted (phase ${s.phase}); there is no retention to expedite`;
        return undefined;
      }),
    cancel: (raw: unknown) =>
      applies(parseOperatorRequest(raw), () => {
        if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting)
          return `entry ${name} is not being deleted (phase ${s.phase}); there is no cleanup to cancel`;
        const by = s.cancel?.by ?? s.cancelRequest?.by;
        return by !== undefined ? `cleanup of ${name} was already cancelled by ${by}` : undefined;
      }),
    extend: (raw: unknown): Result<Extend, string> => {
      const parsed = parseExtendRequest(raw);
      if (!parsed.ok) return parsed;
      const del = s.deletion;
      if (s.phase !== Phase.Retaining || !del)
        return { ok: false, error: `entry ${name} is not retaining backups (phase ${s.phase}); nothing to extend` };
      const target = extendDeadline(parsed.value, del.deadlineMs, deletionMsOf(del));
      return target.ok ? { ok: true, value: { req: parsed.value, target: target.value } } : target;
    },
  };
}

/** A signal: applied when valid, otherwise a refusal note (who said what, bounded). */
function onSignal<T>(run: Run, action: string, raw: unknown, r: Result<T, string>, apply: (req: T) => unknown): void {
  if (r.ok) {
    apply(r.value);
    return;
  }
  const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const said = (v: unknown, max: number): string | undefined =>
    typeof v === 'string' ? safeText(v, max) || undefined : undefined;
  record(run, {
    action: 'refused',
    by: said(o.by ?? o.requestedBy, MAX_ACTOR_CHARS) ?? 'unknown',
    reason: said(o.reason, MAX_REASON_CHARS) ?? '(none given)',
    outcome: `${action} ignored: ${r.error}`,
  });
}

/** An extend returns once the loop has written the new deadline where a new run reads it. */
async function extendAndWait(run: Run, extend: Extend): Promise<DecisionRecord> {
  const d = applyExtend(run, extend);
  const seq = ++run.msgs.next;
  await condition(() => run.msgs.persisted >= seq);
  return d;
}

/** A cancel-cleanup returns the loop's answer once the kept cleanup is written where a new run reads it. */
async function cancelAndWait(run: Run, req: { by: string; reason: string }): Promise<DecisionRecord> {
  const seq = requestCancel(run, req, true);
  const { answers } = run.msgs;
  // A refusal returns at once; a cancelled cleanup once it is written where a new run reads it.
  await condition(() => answers.has(seq) && (!answers.get(seq)!.ok || run.msgs.persisted >= seq));
  const answer = run.msgs.answers.get(seq)!;
  run.msgs.answers.delete(seq);
  return orRefuse(answer);
}

/** The update's refusal: an ApplicationFailure (type `Refused`), shown as is by the Web UI and the CLI. */
function orRefuse<T>(r: Result<T, string>): T {
  if (!r.ok) throw ApplicationFailure.create({ message: r.error, type: 'Refused', nonRetryable: true });
  return r.value;
}
