/**
 * Summaries of the workflow's timers. Temporal records a timer's summary on its TimerStarted event (user metadata),
 * so the Web UI and the benchmarks tell the retention deadline from a retry backoff without guessing by duration.
 */

/** The timer that ends the retention period (fires at the deletion deadline). */
export const RETENTION_TIMER_SUMMARY = 'retention deadline';

/** The timer before an operation that failed is tried again. */
export const RETRY_TIMER_SUMMARY = 'retry backoff';
