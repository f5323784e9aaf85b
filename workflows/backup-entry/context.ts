/**
 * What every phase of a run shares: the entry's name and identity, the settings, the state, the message bookkeeping
 * and the entry as the current pass observed it. Plus the few helpers every phase uses (decision log, phase, end).
 */
import { log, setCurrentDetails } from '@temporalio/workflow';
import {
  type DomainError,
  type EntryIdentity,
  type Operation,
  type Phase,
  type Result,
  boundByBytes,
} from '../../domain';
import type { EtcdSecretRef, ObservedEntry, SecretReference } from '../../activities/types';
import type { DecisionRecord } from '../messages';
import type { BackupEntryWorkflowResult, CarriedState, WorkflowSettings } from './state';
import { nowIso } from './state';
import { summary } from './view';

const MAX_DECISIONS = 50;
/** The decision log keeps its newest entries within this many bytes of JSON (status query, continue-as-new input). */
const MAX_DECISION_LOG_BYTES = 32 * 1024;

/**
 * Operator updates that must be durable before they return: a handler takes the next sequence number and waits
 * until the loop has `persisted` up to it; a cancel-cleanup also waits for its answer (the loop decides it).
 */
export interface Messages {
  next: number;
  persisted: number;
  answers: Map<number, Result<DecisionRecord, string>>;
}

export interface Run {
  readonly name: string;
  /** `<name without source->/`; undefined for a name that is not a BackupEntry name. */
  readonly prefix: string | undefined;
  readonly identity: Result<EntryIdentity, DomainError>;
  readonly settings: WorkflowSettings;
  readonly s: CarriedState;
  readonly msgs: Messages;
  /** A retention record to resume from (start input), until a pass has used it. */
  retainedSecret?: SecretReference;
  /** The entry as the current pass read it (writes say what they observed instead of reading again). */
  entry?: ObservedEntry;
  /** The operation the current pass runs (for its Error status). */
  operation?: Operation;
  /** The reconcile the pass's observing step did already (pass.ts `observe`). */
  reconciled?: { operation: Operation; etcdSecret: EtcdSecretRef };
}

/** A pass ends either with "wait for the next trigger" or with the workflow's result. */
export type PassOutcome = { final: false } | { final: true; result: BackupEntryWorkflowResult };
export const CONTINUE: PassOutcome = { final: false };

export function trimDecisions(s: CarriedState): void {
  s.decisions = boundByBytes(s.decisions, MAX_DECISION_LOG_BYTES, MAX_DECISIONS);
}

/** Adds a decision to the log (and the worker's log). */
export function record(run: Run, r: Omit<DecisionRecord, 'at'>): DecisionRecord {
  const full = { at: nowIso(), ...r };
  run.s.decisions = boundByBytes([...run.s.decisions, full], MAX_DECISION_LOG_BYTES, MAX_DECISIONS);
  log.info('Decision', { entry: run.name, ...full });
  return full;
}

/** A note by the controller. */
export function note(run: Run, reason: string, outcome: string): void {
  record(run, { action: 'note', by: 'controller', reason, outcome });
}

export function setPhase(run: Run, phase: Phase): void {
  if (run.s.phase !== phase) log.info('Phase', { entry: run.name, from: run.s.phase, to: phase });
  run.s.phase = phase;
  setCurrentDetails(summary(run.s));
}

/** The run's end: the phase it ends in and its result. */
export function final(run: Run, phase: Phase, outcome: BackupEntryWorkflowResult['outcome']): PassOutcome {
  setPhase(run, phase);
  const receipt = run.s.deletion?.receipt;
  return {
    final: true,
    result: {
      entryName: run.name,
      phase,
      outcome,
      decisions: [...run.s.decisions],
      ...(receipt ? { deletion: receipt } : {}),
    },
  };
}
