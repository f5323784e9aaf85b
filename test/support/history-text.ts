/**
 * A workflow history as searchable text: payload bytes (Uint8Array or Buffer, which plain JSON.stringify prints as
 * lists of numbers) are decoded as UTF-8, so a scan for a secret string can actually find one.
 */
export function historyText(history: unknown): string {
  return JSON.stringify(history, (_key, value: unknown) => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (
      value &&
      typeof value === 'object' &&
      (value as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((value as { data?: unknown }).data)
    ) {
      return Buffer.from((value as { data: number[] }).data).toString('utf8');
    }
    return value;
  });
}
