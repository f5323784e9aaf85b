/**
 * The single `workflowsPath` entry of the worker: every workflow function the worker runs is exported here.
 */
export { backupEntryWorkflow } from './backup-entry-workflow';
