import { GardenerErrorCode } from './error-codes';
import { err, ok, type Result } from './result';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC3339 / RFC3339Nano time (Kubernetes timestamps, `gardener.cloud/timestamp`) to epoch ms,
 * truncating sub-millisecond digits. Rejects anything else, including impossible dates such as `2026-02-30`.
 * Errors: code ERR_CONFIGURATION_PROBLEM, reason `InvalidTimestamp`.
 */
export function parseRfc3339(text: string): Result<number> {
  const m = RFC3339.exec(text);
  const bad = () =>
    err({
      code: GardenerErrorCode.ConfigurationProblem,
      reason: 'InvalidTimestamp',
      message: `timestamp ${JSON.stringify(text.slice(0, 64))} is not an RFC3339 time such as "2026-08-20T10:00:00Z"`,
    });
  if (!m) return bad();
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(base);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59
  )
    return bad();
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  const offsetMin = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  return ok(base + ms - offsetMin * 60_000);
}

/** Formats epoch ms as RFC3339 UTC with seconds precision (truncated), e.g. `2026-08-20T10:00:03Z`. */
export function formatRfc3339Seconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
