/**
 * The watcher's Temporal actions: what one {@link EntryAction} taken from the work queue does to the entry's workflow
 * (start it, signal it, resume a released entry's retention, tell it its entry is gone). Every call has a deadline
 * and is cancelled when the leadership term ends, so a former leader stops acting at once.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { AppConfig } from '../config';
import { FINALIZER, workflowIdFor } from '../domain';
import { type BackupEntryWorkflowInput, backupEntryWorkflow } from '../workflows/backup-entry-workflow';
import { reconcileSignal } from '../workflows/messages';
import { startAttributes } from '../workflows/start-attributes';
import type { EntryAction } from './entry-action';
import { type WatchedEntry, SignalReason } from './intent';
import type { WatcherMetrics } from './watcher-metrics';

/** What {@link TemporalActions} needs from its leadership term. */
export interface TemporalActionsDeps {
  config: AppConfig;
  client: Client;
  log: Logger;
  metrics: WatcherMetrics;
  /** Deadline of one Temporal call. */
  temporalTimeoutMs: number;
  /** Aborted when the term ends: calls in flight fail (their entries count as not done). */
  signal: AbortSignal;
  /** The informer's current view of an entry (served or not); undefined when none of that name is listed. */
  entry(name: string): WatchedEntry | undefined;
  /** The entry's finalizers as stored now (a fresh read); undefined when it is gone. */
  readFinalizers(name: string): Promise<string[] | undefined>;
  /** True when the entry's etcd-backup secret holds other values than its provider secret. */
  etcdSecretDiffers(name: string): Promise<boolean>;
}

/** Carries out entry actions against Temporal for one leadership term. */
export class TemporalActions {
  constructor(private readonly d: TemporalActionsDeps) {}

  /** One Temporal call: with a deadline, and cancelled when the term ends. */
  call<T>(fn: () => Promise<T>): Promise<T> {
    const { client, temporalTimeoutMs, signal } = this.d;
    return client.withAbortSignal(signal, () => client.withDeadline(Date.now() + temporalTimeoutMs, fn));
  }

  /** Does `action` for entry `name`; rejects when Temporal (or a read it needs) fails, so the queue retries. */
  async perform(name: string, action: EntryAction): Promise<void> {
    const { config, client, metrics, log } = this.d;
    const id = workflowIdFor(config.clusterIdentity, name);
    if (!id.ok) {
      log.error({ entry: name, error: id.error.message }, 'Entry has no valid workflow ID; ignored');
      return;
    }
    const input: BackupEntryWorkflowInput = {
      entryName: name,
      settings: { defaultRetentionMs: config.defaultRetentionMs },
    };
    const watched = this.d.entry(name);
    const spec = watched?.bucketName ? { type: watched.type, bucketName: watched.bucketName } : undefined;
    const start = {
      taskQueue: config.taskQueue,
      workflowId: id.value,
      args: [input] as [BackupEntryWorkflowInput],
      // The attributes that never change during a lifecycle, and the memo: set here, so the run spends no event on them.
      ...startAttributes(name, spec),
      workflowIdConflictPolicy: 'USE_EXISTING' as const,
    };
    const signal = async (reasons: string[]): Promise<void> => {
      await this.call(() =>
        client.workflow.signalWithStart(backupEntryWorkflow, {
          ...start,
          signal: reconcileSignal,
          signalArgs: [{ reason: reasons.join(',') }],
        }),
      );
      for (const reason of reasons) metrics.signals.inc({ reason });
      log.info({ entry: name, workflowId: id.value, reasons }, 'Signalled workflow');
    };
    switch (action.kind) {
      case 'ensure':
        await this.call(() => client.workflow.start(backupEntryWorkflow, start));
        metrics.ensured.inc();
        log.debug({ entry: name, workflowId: id.value }, 'Ensured workflow');
        return;
      case 'signal':
        if (
          this.d.entry(name)?.deletionTimestamp !== undefined &&
          !(await this.deletionNeedsNewRun(name, action.reasons))
        )
          return;
        return signal(action.reasons);
      case 'verify-secret':
        if (await this.d.etcdSecretDiffers(name)) {
          log.info({ entry: name }, 'The etcd-backup secret differs from the provider secret; re-provisioning it');
          return signal([SignalReason.SecretRotation]);
        }
        await this.call(() => client.workflow.start(backupEntryWorkflow, start));
        metrics.ensured.inc();
        return;
      case 'resume':
        if (this.d.entry(name) !== undefined) return; // the entry exists again: its own events drive the workflow
        await this.call(() =>
          client.workflow.start(backupEntryWorkflow, {
            ...start,
            args: [{ ...input, retainedSecret: action.secret }] as [BackupEntryWorkflowInput],
          }),
        );
        metrics.ensured.inc();
        log.info(
          { entry: name, workflowId: id.value, secret: `${action.secret.namespace}/${action.secret.name}` },
          'Made sure the retention of a released entry runs (record on its credentials secret)',
        );
        return;
      case 'gone':
        try {
          await this.call(() =>
            client.workflow.getHandle(id.value).signal(reconcileSignal, { reason: SignalReason.Gone }),
          );
          metrics.signals.inc({ reason: SignalReason.Gone });
          log.info({ entry: name, workflowId: id.value }, 'Entry is gone; told its running workflow');
        } catch (err) {
          if ((err as { name?: unknown }).name !== 'WorkflowNotFoundError') throw err;
        }
        return;
    }
  }

  /**
   * For a deleting entry, signal-with-start could start a second run just after the first one released the last
   * finalizer and ended. So a running workflow is signalled plainly; only when none runs is the entry re-read, and a
   * new run is wanted only while it still holds our finalizer (e.g. its workflow was terminated by hand). True =
   * signal-with-start; false = done (signalled, or nothing of ours left to clean).
   */
  private async deletionNeedsNewRun(name: string, reasons: string[]): Promise<boolean> {
    const { client, metrics, log } = this.d;
    const id = workflowIdFor(this.d.config.clusterIdentity, name);
    if (!id.ok) return false;
    try {
      await this.call(() => client.workflow.getHandle(id.value).signal(reconcileSignal, { reason: reasons.join(',') }));
      for (const reason of reasons) metrics.signals.inc({ reason });
      log.info({ entry: name, workflowId: id.value, reasons }, 'Signalled workflow');
      return false;
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'WorkflowNotFoundError') throw err;
    }
    const finalizers = await this.d.readFinalizers(name);
    return finalizers?.includes(FINALIZER) ?? false;
  }
}
