import { GardenerErrorCode } from './error-codes';
import { err, ok, type Result } from './result';

const HOUR = 3_600_000;
/** Default upper bound for {@link parseDuration}: 10 years of 365 days (87600h). */
export const MAX_DURATION_MS = 10 * 365 * 24 * HOUR;

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: HOUR,
};
const COMPONENT = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y;
const EXAMPLES = '"72h", "1h30m" or "0s"';

const invalid = (message: string): Result<never> =>
  err({ code: GardenerErrorCode.ConfigurationProblem, reason: 'InvalidDuration', message });

/**
 * Parses a Go `time.ParseDuration` text (`72h`, `1h30m`, `1.5h`, `500ms`, `0s`, bare `0`; units ns, us/µs, ms,
 * s, m, h; surrounding whitespace ignored) to whole milliseconds (rounded). Rejects empty, malformed, unit-less,
 * negative and larger-than-`maxMs` values (default {@link MAX_DURATION_MS}). Errors: ERR_CONFIGURATION_PROBLEM,
 * reason `InvalidDuration`.
 */
export function parseDuration(text: string, maxMs: number = MAX_DURATION_MS): Result<number> {
  const shown = JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
  const s = text.trim();
  if (s.length === 0) return invalid(`duration is empty; use a Go duration such as ${EXAMPLES}`);
  const negative = s.startsWith('-');
  const body = s.startsWith('-') || s.startsWith('+') ? s.slice(1) : s;
  let total = 0;
  if (body !== '0') {
    let pos = 0;
    while (pos < body.length) {
      COMPONENT.lastIndex = pos;
      const m = COMPONENT.exec(body);
      if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
        if (/^[\d.]+$/.test(body))
          return invalid(`duration ${shown} has no unit; add one of h, m, s, ms (e.g. "${body}h")`);
        return invalid(`duration ${shown} is not a Go duration such as ${EXAMPLES}`);
      }
      const unit = UNIT_MS[m[3] ?? ''] ?? 0;
      total += Number(m[1] || '0') * unit + Number(`0.${m[2] || '0'}`) * unit;
      pos = COMPONENT.lastIndex;
    }
  }
  if (negative && total > 0) return invalid(`duration ${shown} is negative; it must be zero or more`);
  if (!(total <= maxMs)) return invalid(`duration ${shown} exceeds the maximum of ${formatDuration(maxMs)}`);
  return ok(Math.round(total));
}

/**
 * Formats milliseconds (rounded to whole ms) as a compact Go duration that {@link parseDuration} reads back
 * exactly: `72h`, `1h30m`, `2m3s500ms`, `0s`; negative values get a leading `-`.
 */
export function formatDuration(ms: number): string {
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0s';
  let out = '';
  for (const [unit, size] of [
    ['h', HOUR],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return ms < 0 ? `-${out}` : out;
}

/** Bytes in binary units, one decimal: `0 B`, `192 B`, `12.0 KiB`, `5.6 GiB` (CLI, statuses and the workflow summary). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
