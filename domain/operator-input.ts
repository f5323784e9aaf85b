/**
 * Operator input as it really arrives: whatever a person typed into the Temporal Web UI's Signal/Update form or
 * `temporal workflow signal --input`, decoded by the SDK (or not decodable at all). Every function here takes
 * `unknown`, never throws, and either returns a clean, bounded value or says precisely what is wrong, so the
 * workflow can refuse an update or record a refusal note for a signal without ever failing a workflow task.
 *
 * Bounds (why): free text lands in workflow state, the status query, the decision log and the continue-as-new
 * input, all of which must stay far below Temporal's 2 MiB payload limit whatever is sent; and it is printed by the
 * CLI, so control characters (ANSI escapes, newlines that could forge a decision line, bidi overrides) are removed.
 */
import { MAX_DURATION_MS, formatDuration, parseDuration } from './duration';
import { err, ok, type Result } from './result';
import { formatRfc3339Seconds, parseRfc3339 } from './time';

/** Longest `reason` kept, in characters (and at most 4× as many UTF-8 bytes). @default 512 */
export const MAX_REASON_CHARS = 512;
/** Longest `by` / `requestedBy` kept, in characters. @default 128 */
export const MAX_ACTOR_CHARS = 128;
/** Longest text shown back from a refused payload (a preview, never the whole thing). */
const PREVIEW_CHARS = 64;
/**
 * Upper bound of any retention deadline: the deletion time plus {@link MAX_DURATION_MS} (10 years). Longer keeping
 * is what `cancel-cleanup` (keep-backups) is for; the bound keeps every deadline a valid search-attribute time.
 */
export const MAX_RETENTION_MS = MAX_DURATION_MS;

/** Marker the tolerant payload converter returns for a payload it cannot decode (not JSON, unknown encoding). */
export interface UndecodablePayload {
  undecodablePayload: { encoding: string; bytes: number };
}

/** True for the converter's {@link UndecodablePayload} marker. */
export function isUndecodable(v: unknown): v is UndecodablePayload {
  return typeof v === 'object' && v !== null && 'undecodablePayload' in v;
}

/**
 * The characters {@link safeText} replaces, as the body of a regular expression character class: C0 and C1 controls
 * (newline, tab and ESC included), DEL, the Arabic letter mark (U+061C), zero-width spaces and joiners, the
 * left-to-right/right-to-left marks, the line/paragraph separators, the direction embeddings, overrides and isolates,
 * the word joiner and the invisible operators (U+2060-U+2064), the deprecated format controls (U+206A-U+206F) and the
 * byte order mark: anything that can move a cursor, colour a terminal or disguise text.
 */
export const UNSAFE_TEXT_CHARS =
  '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff';
const UNSAFE = new RegExp(`[${UNSAFE_TEXT_CHARS}]`, 'g');

/**
 * Text made safe to store and print: unsafe characters (see above) become a space, runs of spaces collapse, ends
 * are trimmed, and the result is cut to `maxChars` characters and `4 × maxChars` UTF-8 bytes (an ellipsis marks a
 * cut; a surrogate pair is never split).
 */
export function safeText(text: string, maxChars: number): string {
  const clean = text.replace(UNSAFE, ' ').replace(/ {2,}/g, ' ').trim();
  const chars = Array.from(clean);
  const maxBytes = maxChars * 4;
  if (chars.length <= maxChars && utf8Length(clean) <= maxBytes) return clean;
  const out: string[] = [];
  let bytes = 0;
  for (const c of chars.slice(0, maxChars - 1)) {
    const b = utf8Length(c);
    if (bytes + b > maxBytes - 3) break;
    out.push(c);
    bytes += b;
  }
  return `${out.join('').trimEnd()}…`;
}

/** UTF-8 length of a string, counted from its code points (the same code in workflows, activities and the CLI). */
export function utf8Length(s: string): number {
  let n = 0;
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** What a payload was, in words, for refusal messages: `no payload`, `null`, `a number`, `an array`, ... */
export function describePayload(v: unknown): string {
  if (v === undefined) return 'no payload';
  if (v === null) return 'null';
  if (isUndecodable(v))
    return `a payload that is not JSON (encoding ${safeText(v.undecodablePayload.encoding, 40) || 'none'}, ${v.undecodablePayload.bytes} bytes)`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `binary data (${v.length} bytes)`;
  if (typeof v === 'string') return `the string ${JSON.stringify(safeText(v, PREVIEW_CHARS))}`;
  return `a ${typeof v}`;
}

/** An operator's request after validation: bounded, clean text. */
export interface CleanOperatorRequest {
  reason: string;
  /** Who asked, as they said it (`unknown` when not given). */
  by: string;
}

/** An extend request after validation: exactly one of `byMs` / `untilMs`. */
export interface CleanExtendRequest {
  reason: string;
  requestedBy: string;
  byMs?: number;
  untilMs?: number;
}

const EXAMPLE_REQUEST = '{"reason": "why", "by": "who"}';
const EXAMPLE_EXTEND = '{"by": "24h", "reason": "why"} or {"until": "2026-12-01T00:00:00Z", "reason": "why"}';

type Refusal = string;

function asObject(v: unknown, example: string): Result<Record<string, unknown>, Refusal> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || isUndecodable(v)) {
    return err(`expected a JSON object such as ${example}, got ${describePayload(v)}`);
  }
  return ok(v as Record<string, unknown>);
}

function unknownFields(o: Record<string, unknown>, known: readonly string[], example: string): Refusal | undefined {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length === 0) return undefined;
  const shown = extra
    .slice(0, 5)
    .map((k) => JSON.stringify(safeText(k, 32)))
    .join(', ');
  return `unknown field${extra.length > 1 ? 's' : ''} ${shown}${extra.length > 5 ? ', …' : ''}; expected ${example}`;
}

function textField(
  o: Record<string, unknown>,
  key: string,
  maxChars: number,
  required: boolean,
): Result<string | undefined, Refusal> {
  const v = o[key];
  if (v === undefined || (v === null && !required)) {
    return required ? err(`"${key}" is required: say why (it is recorded with who asked)`) : ok(undefined);
  }
  if (typeof v !== 'string') return err(`"${key}" must be a string, got ${describePayload(v)}`);
  const clean = safeText(v, maxChars);
  if (required && !clean) return err(`"${key}" is empty: say why (it is recorded with who asked)`);
  return ok(clean || undefined);
}

/** Validates an expedite / cancel-cleanup payload: `{reason: string, by?: string}` and nothing else. */
export function parseOperatorRequest(v: unknown): Result<CleanOperatorRequest, Refusal> {
  const o = asObject(v, EXAMPLE_REQUEST);
  if (!o.ok) return o;
  const extra = unknownFields(o.value, ['reason', 'by'], EXAMPLE_REQUEST);
  if (extra) return err(extra);
  const reason = textField(o.value, 'reason', MAX_REASON_CHARS, true);
  if (!reason.ok) return reason;
  const by = textField(o.value, 'by', MAX_ACTOR_CHARS, false);
  if (!by.ok) return by;
  return ok({ reason: reason.value!, by: by.value ?? 'unknown' });
}

/**
 * Validates an extendRetention payload: `{reason, by?: duration text, until?: RFC3339 text, requestedBy?}` with
 * exactly one of `by` / `until`. Numbers are refused (a bare number has no unit; an epoch has no zone).
 */
export function parseExtendRequest(v: unknown): Result<CleanExtendRequest, Refusal> {
  const o = asObject(v, EXAMPLE_EXTEND);
  if (!o.ok) return o;
  const extra = unknownFields(o.value, ['reason', 'by', 'until', 'requestedBy'], EXAMPLE_EXTEND);
  if (extra) return err(extra);
  const reason = textField(o.value, 'reason', MAX_REASON_CHARS, true);
  if (!reason.ok) return reason;
  const who = textField(o.value, 'requestedBy', MAX_ACTOR_CHARS, false);
  if (!who.ok) return who;
  const { by, until } = o.value;
  if ((by === undefined) === (until === undefined))
    return err(
      `give exactly one of "by" (a duration such as "24h") or "until" (an RFC3339 time); e.g. ${EXAMPLE_EXTEND}`,
    );
  const base = { reason: reason.value!, requestedBy: who.value ?? 'unknown' };
  if (by !== undefined) {
    if (typeof by !== 'string') return err(`"by" must be a duration text such as "24h", got ${describePayload(by)}`);
    const d = parseDuration(by);
    if (!d.ok) return err(`"by": ${d.error.message}`);
    if (d.value <= 0) return err('"by" must be more than zero: extend moves the deadline later');
    return ok({ ...base, byMs: d.value });
  }
  if (typeof until !== 'string')
    return err(`"until" must be an RFC3339 time text such as "2026-12-01T00:00:00Z", got ${describePayload(until)}`);
  const t = parseRfc3339(until);
  if (!t.ok) return err(`"until": ${t.error.message}`);
  return ok({ ...base, untilMs: t.value });
}

/**
 * The deadline an extend asks for, or why it cannot be granted: later than `currentDeadlineMs`, and no later than
 * `deletionMs + MAX_RETENTION_MS`.
 */
export function extendDeadline(
  req: CleanExtendRequest,
  currentDeadlineMs: number,
  deletionMs: number,
): Result<number, Refusal> {
  const target = req.byMs !== undefined ? currentDeadlineMs + req.byMs : req.untilMs!;
  const limit = deletionMs + MAX_RETENTION_MS;
  if (target > limit) {
    return err(
      `the deadline can be at most ${formatDuration(MAX_RETENTION_MS)} after the deletion (${formatRfc3339Seconds(limit)}); ` +
        'to keep backups longer, cancel the cleanup (keep-backups) instead',
    );
  }
  if (target <= currentDeadlineMs) {
    return err(
      `extend must move the deadline later: ${formatRfc3339Seconds(target)} is not after the current deadline ${formatRfc3339Seconds(currentDeadlineMs)}`,
    );
  }
  return ok(target);
}

/** The reason of a `reconcile` signal (the watcher's), bounded; anything else reads as `unspecified`. */
export function reconcileReason(v: unknown): string {
  if (typeof v === 'object' && v !== null && typeof (v as { reason?: unknown }).reason === 'string') {
    return safeText((v as { reason: string }).reason, 128) || 'unspecified';
  }
  return 'unspecified';
}

/** Keeps the newest items whose JSON size sums to at most `maxBytes` (always at least the newest one). */
export function boundByBytes<T>(items: readonly T[], maxBytes: number, maxItems: number): T[] {
  const out: T[] = [];
  let total = 0;
  for (let i = items.length - 1; i >= 0 && out.length < maxItems; i -= 1) {
    const size = utf8Length(JSON.stringify(items[i]));
    if (out.length > 0 && total + size > maxBytes) break;
    out.unshift(items[i]!);
    total += size;
  }
  return out;
}
