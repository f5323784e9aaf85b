/**
 * Operator decisions as state changes: expedite, extend and cancel-cleanup, from an update, a signal, an annotation
 * or a retention record. No I/O here: the loop writes what must be durable, and decides a cancel-cleanup's outcome
 * (the deletion it would stop may have just completed).
 */
import { Phase, type CleanExtendRequest, type CleanOperatorRequest } from '../../domain';
import type { DecisionRecord } from '../messages';
import { type Run, record } from './context';
import { iso } from './state';

export function applyExpedite(run: Run, req: CleanOperatorRequest): DecisionRecord {
  const d = record(run, {
    action: 'expedite',
    by: req.by,
    reason: req.reason,
    outcome: 'retention ended early; deleting backups now',
  });
  run.s.expedite = d;
  run.s.dirty = true;
  return d;
}

export function applyExtend(run: Run, { req, target }: { req: CleanExtendRequest; target: number }): DecisionRecord {
  const del = run.s.deletion!;
  del.deadlineMs = target;
  del.retentionSource = 'extended';
  run.s.dirty = true;
  return record(run, {
    action: 'extend',
    by: req.requestedBy,
    reason: req.reason,
    outcome: `deadline moved to ${iso(target)}`,
  });
}

/**
 * Asks for a cancel-cleanup (once): the loop applies it at its next step of the deletion, or refuses it when the
 * deletion completed first. Returns the request's sequence number (`answer`: an update waits for the loop's answer).
 */
export function requestCancel(run: Run, req: CleanOperatorRequest, answer: boolean): number {
  const { s } = run;
  const seq = ++run.msgs.next;
  if (s.cancel || s.cancelRequest) {
    if (answer) run.msgs.answers.set(seq, { ok: false, error: `cleanup of ${run.name} was already cancelled` });
    return seq;
  }
  s.cancelRequest = { by: req.by, reason: req.reason, seq, ...(answer ? { answer } : {}) };
  s.dirty = true;
  return seq;
}

/** The loop applies the requested cancel-cleanup: every object is kept (what is left, during a deletion). */
export function applyCancel(run: Run): void {
  const { s } = run;
  const req = s.cancelRequest;
  if (!req) return;
  const during = s.phase === Phase.Deleting ? 'deletion stopped; remaining objects are kept' : 'every object is kept';
  s.cancel = record(run, {
    action: 'cancel-cleanup',
    by: req.by,
    reason: req.reason,
    outcome: `${during}; finalizers released`,
  });
  s.cancelRequest = undefined;
  if (req.answer) run.msgs.answers.set(req.seq, { ok: true, value: s.cancel });
}

/** The loop refuses the requested cancel-cleanup: it came too late (or the entry took another way). */
export function refuseCancel(run: Run, why: string): void {
  const req = run.s.cancelRequest;
  if (!req) return;
  record(run, { action: 'refused', by: req.by, reason: req.reason, outcome: `cancel-cleanup ignored: ${why}` });
  run.s.cancelRequest = undefined;
  if (req.answer) run.msgs.answers.set(req.seq, { ok: false, error: why });
}
