/**
 * The activities factory: builds every activity the BackupEntry workflow calls from its dependencies. The worker's
 * composition root (worker/main.ts) is the only caller that passes real adapters; tests pass their own.
 */
import type { KubeGateway } from '../adapters/kubernetes/kube-client';
import { createKubeActivities } from './kube-activities';
import { createStorageActivities } from './storage-activities';
import type { StorageProvider } from './storage-port';
import type { BackupEntryActivities } from './types';

/** What the activities need from the outside world. */
export interface ActivityDeps {
  kube: KubeGateway;
  /** Storage providers by `spec.type`. */
  providers: ReadonlyMap<string, StorageProvider>;
  /** Clock (epoch ms); tests may fix it. */
  now?: () => number;
}

/** Creates the activities; the object's keys are the activity names the workflow proxies. */
export function createActivities(deps: ActivityDeps): BackupEntryActivities {
  const kube = createKubeActivities(deps);
  const { readEntryForStorage, ...kubeActivities } = kube;
  const storage = createStorageActivities({ readEntry: readEntryForStorage, providers: deps.providers, ...(deps.now ? { now: deps.now } : {}) });
  return { ...kubeActivities, ...storage };
}
