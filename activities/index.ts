/**
 * The activities factory: builds every activity the BackupEntry workflow calls from its dependencies. The worker's
 * composition root (worker/main.ts) is the only caller that passes real adapters; tests pass their own.
 */
import type { KubeGateway } from './kube-port';
import { createKubeActivities } from './kube-activities';
import { type ActivityMetricsSink, countFailures } from './metrics';
import { createStorageActivities } from './storage-activities';
import type { StorageProvider } from './storage-port';
import type { BackupEntryActivities, RetentionMode } from './types';
import type { VisibilityPort } from './visibility-port';

/** What the activities need from the outside world. */
export interface ActivityDeps {
  kube: KubeGateway;
  /** Storage providers by `spec.type`. */
  providers: ReadonlyMap<string, StorageProvider>;
  /** Clock (epoch ms); tests may fix it. */
  now?: () => number;
  /** The configured default retention (`BEL_DEFAULT_RETENTION`), reported to the workflow with each observed entry. */
  defaultRetentionMs?: number;
  /** The configured retention mode (`BEL_RETENTION_MODE`), reported to the workflow with each observed entry. */
  retentionMode?: RetentionMode;
  /**
   * Temporal's visibility store, for checking a retention record against what the previous run published.
   * @default undefined (no earlier run is known: a run is never resumed from a record alone)
   */
  visibility?: VisibilityPort;
  /** Receives deletion counts and failures by Gardener code (the worker's Prometheus metrics); optional. */
  metrics?: ActivityMetricsSink;
}

export type { ActivityMetricsSink } from './metrics';

/** Creates the activities; the object's keys are the activity names the workflow proxies. */
export function createActivities(deps: ActivityDeps): BackupEntryActivities {
  const kube = createKubeActivities(deps);
  const { readEntryForStorage, verifyDeletionAllowed, ...kubeActivities } = kube;
  const storage = createStorageActivities({
    readEntry: readEntryForStorage,
    verifyDeletionAllowed,
    providers: deps.providers,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  const activities: BackupEntryActivities = {
    ...kubeActivities,
    ...storage,
    readPublishedRun: async (workflowId, runId) => deps.visibility?.latestOtherRun(workflowId, runId),
  };
  return deps.metrics ? countFailures(activities, deps.metrics) : activities;
}
