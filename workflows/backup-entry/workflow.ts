/**
 * One durable workflow per BackupEntry: Gardener's generic BackupEntry reconciler re-cast as a Temporal workflow
 * (docs/design.md §4). Read in this order: this file (input, handlers, the loop, continue-as-new), pass.ts (one pass
 * over the entry), decide.ts (the pure decisions), phases/ (what each decision does), handlers.ts (operator messages).
 *
 * The workflow never trusts a signal's content about the entry: every pass re-reads it. Handlers only change state;
 * the loop does every write. Deterministic: workflow time only, no I/O outside activities, all state carried
 * explicitly across continue-as-new. Workflow ID: `workflowIdFor(clusterIdentity, entryName)` (domain/workflow-id.ts).
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import { type GardenerErrorCode, Operation, Phase, backoffDelay, parseEntryName } from '../../domain';
import { RETENTION_TIMER_SUMMARY, RETRY_TIMER_SUMMARY } from '../timer-summaries';
import { invalidInput } from '../workflow-input';
import { flushAttributes } from './attributes';
import { type PassOutcome, type Run, setPhase, trimDecisions } from './context';
import { observedOf } from './effects';
import { describeFailure } from './failures';
import { registerHandlers } from './handlers';
import { pass } from './pass';
import { refuseCancel } from './requests';
import {
  type BackupEntryWorkflowInput,
  type BackupEntryWorkflowResult,
  DEFAULT_WORKFLOW_SETTINGS,
  currentOperation,
  initialState,
  nowIso,
} from './state';
import { kube } from './steps';
import { WakeTimer } from './timer';
import { summary } from './view';

export async function backupEntryWorkflow(input: BackupEntryWorkflowInput): Promise<BackupEntryWorkflowResult> {
  const run = begin(input);
  const { s } = run;
  registerHandlers(run);
  setCurrentDetails(summary(s));
  const timer = new WakeTimer();
  for (;;) {
    if (s.dirty) {
      const outcome = await onePass(run);
      if (outcome?.final) {
        await condition(allHandlersFinished);
        return outcome.result;
      }
    }
    const retention = s.phase === Phase.Retaining && s.deletion && !s.expedite ? s.deletion.deadlineMs : Infinity;
    const wakeAt = Math.min(s.retryAtMs ?? Infinity, retention);
    const what = wakeAt === s.retryAtMs ? RETRY_TIMER_SUMMARY : RETENTION_TIMER_SUMMARY;
    if (!(await timer.wait(wakeAt, what, () => s.dirty || canContinueAsNew(run)))) s.dirty = true;
    if (!s.dirty && canContinueAsNew(run) && run.msgs.persisted >= run.msgs.next) {
      await condition(allHandlersFinished);
      const retained = !s.deletion && run.retainedSecret ? { retainedSecret: run.retainedSecret } : {};
      await continueAsNew<typeof backupEntryWorkflow>({
        entryName: run.name,
        settings: run.settings,
        carried: s,
        ...retained,
      });
    }
  }
}

/** The run's context from its (validated) input. */
function begin(input: BackupEntryWorkflowInput): Run {
  const invalid =
    invalidInput(input) ??
    (input.carried !== undefined && !workflowInfo().continuedFromExecutionRunId
      ? '"carried" is accepted only on a run continued (continue-as-new) from this workflow, never on a new start'
      : undefined);
  if (invalid) throw ApplicationFailure.nonRetryable(`invalid workflow input: ${invalid}`, 'InvalidWorkflowInput');
  const identity = parseEntryName(input.entryName);
  const s = input.carried ?? initialState();
  const run: Run = {
    name: input.entryName,
    prefix: identity.ok ? `${identity.value.name.replace(/^source-/, '')}/` : undefined,
    identity,
    settings: { ...DEFAULT_WORKFLOW_SETTINGS, ...input.settings },
    s,
    msgs: { next: 0, persisted: 0, answers: new Map() },
    ...(input.retainedSecret ? { retainedSecret: input.retainedSecret } : {}),
  };
  trimDecisions(s);
  return run;
}

function canContinueAsNew(run: Run): boolean {
  const limit = run.settings.continueAsNewAfterEvents;
  return workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit);
}

/** One pass, its failure turned into an Error status and a retry; every operator update before it counts as persisted. */
async function onePass(run: Run): Promise<PassOutcome | undefined> {
  const { s } = run;
  s.dirty = false;
  s.retryAtMs = undefined;
  run.operation = undefined;
  run.entry = undefined;
  run.reconciled = undefined;
  const upTo = run.msgs.next;
  try {
    const outcome = await pass(run);
    s.errorStreak = 0;
    if (s.cancelRequest && s.cancelRequest.seq <= upTo)
      refuseCancel(run, `the entry is not being deleted any more (phase ${s.phase})`);
    run.msgs.persisted = Math.max(run.msgs.persisted, upTo);
    flushAttributes(run);
    return outcome;
  } catch (err) {
    if (isCancellation(err) && !s.cancel) throw err; // the workflow itself is being cancelled
    await failed(run, err);
    flushAttributes(run);
    return undefined;
  }
}

/** An Error status with the Gardener codes, and a retry after a backoff (as Gardener's reconciler requeues). */
async function failed(run: Run, err: unknown): Promise<void> {
  const { s } = run;
  const { message, codes, operation } = describeFailure(err);
  s.errorStreak += 1;
  // min(max, initial · 2^min(streak − 1, 20)), no jitter.
  const delay = backoffDelay(Math.min(s.errorStreak, 21), {
    initialMs: run.settings.initialRetryDelayMs,
    maxMs: run.settings.maxRetryDelayMs,
  });
  s.retryAtMs = Date.now() + delay;
  s.lastError = { message, codes, at: nowIso() };
  log.warn('Operation failed; retrying later', { entry: run.name, message, codes, retryInMs: delay });
  const op = run.operation ?? knownOperation(operation) ?? currentOperation(s);
  try {
    await kube.writeStatus(run.name, {
      kind: 'error',
      operation: op,
      description: message,
      codes: codes as GardenerErrorCode[],
      ...(run.entry?.exists ? { generation: run.entry.generation } : {}),
      ...observedOf(run.entry),
    });
    s.lastOperation = { type: op, state: 'Error', description: message, at: nowIso() };
  } catch (statusErr) {
    log.warn('Could not write the Error status', { entry: run.name, error: describeFailure(statusErr).message });
  }
  if (s.phase !== Phase.Retaining && s.phase !== Phase.Deleting) setPhase(run, Phase.Error);
  else setCurrentDetails(summary(s));
}

/** An operation a failure named, when it is one. */
function knownOperation(op: string | undefined): Operation | undefined {
  return (Object.values(Operation) as string[]).includes(op ?? '') ? (op as Operation) : undefined;
}
