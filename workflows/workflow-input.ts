/**
 * Validation of the workflow's start input. The watcher starts every run with `{entryName, settings}`, and
 * continue-as-new adds `carried`; but anyone with access to the namespace can start the workflow type by hand (the
 * Web UI's "Start Workflow", `temporal workflow start --input`), so the input is checked before it is used: a bad
 * input fails the run at once with one clear message instead of failing workflow tasks forever.
 */
import { MAX_DURATION_MS, Phase, parseRfc3339 } from '../domain';

const PHASES: readonly string[] = Object.values(Phase);

/** Bounds of each setting, in ms (counts for `continueAsNewAfterEvents`). */
export const SETTING_BOUNDS: Readonly<Record<string, readonly [number, number]>> = {
  defaultRetentionMs: [0, MAX_DURATION_MS],
  initialRetryDelayMs: [10, 3_600_000],
  maxRetryDelayMs: [10, 24 * 3_600_000],
  continueAsNewAfterEvents: [10, 50_000],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why the start input cannot be used, or undefined when it is well-formed. Never throws. */
export function invalidInput(input: unknown): string | undefined {
  if (!isObject(input)) return 'expected an object {"entryName": "<BackupEntry name>"}';
  const extra = Object.keys(input).filter((k) => !['entryName', 'settings', 'carried', 'retainedSecret'].includes(k));
  if (extra.length)
    return `unknown field(s) ${extra
      .slice(0, 5)
      .map((k) => JSON.stringify(k.slice(0, 32)))
      .join(', ')}`;
  // Bounded, not parsed: a name the API server would refuse still gets a run that finds no entry and says so.
  if (typeof input.entryName !== 'string' || !input.entryName || input.entryName.length > 1024) {
    return '"entryName" must be a BackupEntry name (a string of 1 to 1024 characters)';
  }
  if (input.settings !== undefined) {
    if (!isObject(input.settings)) return '"settings" must be an object';
    for (const [key, value] of Object.entries(input.settings)) {
      const bounds = SETTING_BOUNDS[key];
      if (!bounds)
        return `"settings.${key.slice(0, 32)}" is not a setting (known: ${Object.keys(SETTING_BOUNDS).join(', ')})`;
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds[0] || value > bounds[1]) {
        return `"settings.${key}" must be a whole number from ${bounds[0]} to ${bounds[1]}`;
      }
    }
  }
  if (input.retainedSecret !== undefined) {
    const r = input.retainedSecret;
    if (!isObject(r) || typeof r.namespace !== 'string' || !r.namespace || typeof r.name !== 'string' || !r.name) {
      return '"retainedSecret" must be {"namespace": "...", "name": "..."}';
    }
  }
  if (input.carried !== undefined) return invalidCarried(input.carried);
  return undefined;
}

/** The state continue-as-new hands over is ours, but a hand-made start can imitate it: check what the loop relies on. */
function invalidCarried(c: unknown): string | undefined {
  if (!isObject(c)) return '"carried" must be an object';
  if (typeof c.phase !== 'string' || !PHASES.includes(c.phase))
    return `"carried.phase" must be one of ${PHASES.join(', ')}`;
  if (typeof c.dirty !== 'boolean') return '"carried.dirty" must be a boolean';
  if (typeof c.errorStreak !== 'number' || !Number.isInteger(c.errorStreak) || c.errorStreak < 0)
    return '"carried.errorStreak" must be a whole number ≥ 0';
  if (!Array.isArray(c.decisions)) return '"carried.decisions" must be an array';
  if (c.deletion !== undefined) {
    const d = c.deletion;
    if (!isObject(d)) return '"carried.deletion" must be an object';
    if (typeof d.deletionTimestamp !== 'string' || !parseRfc3339(d.deletionTimestamp).ok)
      return '"carried.deletion.deletionTimestamp" must be an RFC3339 time';
    const deletedAt = parseRfc3339(d.deletionTimestamp);
    if (
      typeof d.deadlineMs !== 'number' ||
      !Number.isFinite(d.deadlineMs) ||
      (deletedAt.ok && (d.deadlineMs < deletedAt.value || d.deadlineMs > deletedAt.value + MAX_DURATION_MS))
    ) {
      return '"carried.deletion.deadlineMs" must be a time from the deletion to 10 years after it';
    }
  }
  return undefined;
}
