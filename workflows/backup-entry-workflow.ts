/**
 * The BackupEntry workflow's public face for the watcher, the CLI and the tests: the workflow function and its
 * input, result and settings. The workflow itself lives in workflows/backup-entry/ (start with its workflow.ts).
 */
export { backupEntryWorkflow } from './backup-entry/workflow';
export {
  type BackupEntryWorkflowInput,
  type BackupEntryWorkflowResult,
  type CarriedState,
  type WorkflowSettings,
  DEFAULT_WORKFLOW_SETTINGS,
} from './backup-entry/state';
