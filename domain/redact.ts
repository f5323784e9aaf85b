/**
 * Redaction of error texts before they leave the process (activity failures, Kubernetes status and Events, provider
 * error descriptions). Plain TypeScript without I/O, like the rest of the domain.
 */

/** Base64url characters (RFC 4648 §5): what JWT segments and Google's OAuth tokens are made of. */
const B64URL = 'A-Za-z0-9_\\-';

/**
 * Removes what looks like credentials from an error text: PEM blocks, bearer tokens, JSON "private_key" values,
 * Google OAuth access tokens (`ya29.` followed by base64url characters and dots), JWTs (three base64url segments
 * separated by dots, the first a JSON header, so starting `eyJ`) and long base64 runs. Defence in depth: our own
 * messages never include secrets. The result is at most 2 000 characters.
 */
export function redact(text: string): string {
  return text
    .replace(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g, '[redacted PEM]')
    .replace(/("?private_key(_id)?"?\s*[:=]\s*)"[^"]*"/gi, '$1"[redacted]"')
    .replace(/(bearer\s+)[A-Za-z0-9._~+/-]+=*/gi, '$1[redacted]')
    .replace(new RegExp(`ya29\\.[${B64URL}.]+`, 'g'), '[redacted token]')
    .replace(new RegExp(`eyJ[${B64URL}]*\\.[${B64URL}]+\\.[${B64URL}]*`, 'g'), '[redacted JWT]')
    .replace(/[A-Za-z0-9+/]{80,}={0,2}/g, '[redacted]')
    .slice(0, 2000);
}
