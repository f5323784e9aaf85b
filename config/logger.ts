/**
 * The one structured logger of the worker and the watcher (pino, JSON lines on stdout), and the bridge that routes
 * the Temporal SDK's own logs (workflow `log`, activity `log`, Core) into it.
 */
import pino, { type Logger } from 'pino';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

/** Field paths pino replaces with "[redacted]" wherever they appear: defence in depth against secret data in logs. */
const REDACT = [
  'data',
  '*.data',
  'secretData',
  '*.secretData',
  'privateKey',
  '*.private_key',
  'credentials',
  '*.credentials',
  'token',
  '*.token',
];

/** Creates the process logger. `component` names the process (`worker`, `watcher`, `cli`). */
export function createLogger(level: string, component: string): Logger {
  return pino({
    level,
    base: { component },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

const SDK_LEVEL: Record<string, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/**
 * Installs the Temporal runtime once, forwarding SDK and Core logs to `logger` at `level` and above. With
 * `prometheusBindAddress` (`host:port`) the runtime also serves the SDK's metrics (`temporal_*`) in Prometheus text
 * on `http://<address>/metrics`; counters get the `_total` suffix and durations are in seconds, as Prometheus expects.
 */
export function installTemporalRuntime(
  logger: Logger,
  level: string,
  opts: { prometheusBindAddress?: string } = {},
): void {
  const sdkLevel = SDK_LEVEL[level] ?? 'INFO';
  Runtime.install({
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const { message, meta } = entry;
      const fn = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[entry.level];
      logger[fn]({ sdk: true, ...(meta ?? {}) }, message);
    }),
    ...(opts.prometheusBindAddress
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: opts.prometheusBindAddress,
                countersTotalSuffix: true,
                useSecondsForDurations: true,
              },
            },
          },
        }
      : {}),
  });
}
