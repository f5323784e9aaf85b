/** Pure domain logic of backupentry-lifecycle: deterministic, no I/O, safe inside Temporal workflows. */
export * from './backoff';
export * from './constants';
export * from './deletion-guard';
export * from './duration';
export * from './entry-name';
export * from './error-codes';
export * from './errors';
export * from './operation';
export * from './phase';
export * from './redact';
export * from './result';
export * from './retention';
export * from './status';
export * from './time';
export * from './workflow-id';
export * from './operator-input';
export * from './retention-record';
