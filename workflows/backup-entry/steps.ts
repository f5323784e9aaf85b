/**
 * The activities the workflow calls. Kubernetes steps are local activities (docs/adr/0004): one marker each, run by
 * the worker that holds the workflow task, so every one of them is idempotent (a task retried after UnhandledCommand
 * runs its steps again). Only the loop calls them: message handlers never do I/O (docs/adr/0008).
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BackupEntryActivities } from '../../activities/types';
import { DELETE_ACTIVITY, INVENTORY_ACTIVITY, KUBE_LOCAL_ACTIVITY } from '../activity-options';

/** Kubernetes and visibility steps (local activities). */
export const kube = proxyLocalActivities<BackupEntryActivities>(KUBE_LOCAL_ACTIVITY);
/** Counting the objects that a cancelled cleanup keeps (a regular activity: it lists a whole prefix). */
export const { inventoryBackups } = proxyActivities<BackupEntryActivities>(INVENTORY_ACTIVITY);
/** Deleting the backups (a regular, heartbeating activity that counts them first). */
export const { deleteBackups } = proxyActivities<BackupEntryActivities>(DELETE_ACTIVITY);
