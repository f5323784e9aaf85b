/**
 * `redact()`: what looks like a credential never leaves the process in an error text. Google's OAuth access tokens
 * (`ya29.` and base64url characters, `-` and `_` included) and JWTs (three base64url segments, `eyJ...`) as well as
 * PEM blocks, bearer tokens, private keys and long base64 runs; ordinary diagnostics (object names) stay readable.
 * Checked on the function and through the GCS provider, whose error descriptions quote the library's message.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { SecretData } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { isClassifiedError, redact } from '../../../domain';
import { fakeServiceAccountSecret } from '../../support/fake-service-account';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64url = (minLength: number, maxLength = 300): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...B64URL), minLength, maxLength });
/** Text around a token: anything, separated from it by a space. */
const around = fc.string({ maxLength: 60 });

// Shapes of real tokens (random, not real credentials).
const ACCESS_TOKEN = 'ya29.a0AfB_byC-3xq_Lk9-Zt0fQm2_hR-Vd7yW8uPq3sN1_aB-cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ5-_0123';
const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImstMSJ9.' +
  'eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Z2FyZGVuOndpIiwiZXhwIjoxOTAwMDAwMDAwfQ.' +
  'c2lnbmF0dXJlLW5vdC1jaGVja2Vk_-x';

describe('redact', () => {
  it.each([
    ['an OAuth access token with - and _', `token ${ACCESS_TOKEN} was refused`, ACCESS_TOKEN],
    ['an access token in JSON', `{"access_token":"${ACCESS_TOKEN}","expires_in":3599}`, ACCESS_TOKEN.slice(5)],
    ['a JWT', `subject token ${JWT} rejected`, JWT],
    ['a JWT payload', `invalid_grant: ${JWT}`, JWT.split('.')[1]!],
    ['an unsigned JWT', `token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. end`, 'eyJzdWIiOiJ4In0'],
  ])('removes %s', (_what, text, secret) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('[redacted');
  });

  it('still removes PEM blocks, bearer tokens, private keys and long base64 runs', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----';
    expect(redact(`key ${pem} here`)).toBe('key [redacted PEM] here');
    expect(redact('Authorization: Bearer abc.def-ghi_jkl')).toBe('Authorization: Bearer [redacted]');
    expect(redact('"private_key": "xyz"')).toBe('"private_key": "[redacted]"');
    expect(redact(`data ${'QUJD'.repeat(30)}== end`)).toBe('data [redacted] end');
  });

  it('leaves ordinary diagnostics alone', () => {
    for (const text of [
      "Object 'shoot--dev--demo--5b3e9d6c-0f0e-4d8a-9a53-2f3c1f2b7e41/v2/Full-00000000-00000001-1700000000' is locked",
      'a@test.iam.gserviceaccount.com does not have storage.objects.delete access',
      'HTTP 503: upstream connect error, eyJ alone is not a token',
    ]) {
      expect(redact(text)).toBe(text);
    }
  });

  it('removes any ya29. access token of base64url characters and dots (property)', () => {
    fc.assert(
      fc.property(around, b64url(1), fc.array(b64url(1, 40), { maxLength: 3 }), around, (pre, head, rest, post) => {
        const secret = [head, ...rest].join('.');
        const out = redact(`${pre} ya29.${secret} ${post}`);
        expect(out).not.toContain(`ya29.${secret}`);
        for (const part of [head, ...rest]) {
          if (part.length >= 8 && !`${pre} ${post}`.includes(part)) expect(out).not.toContain(part);
        }
      }),
    );
  });

  it('removes any JWT: three base64url segments, the header a JSON object (eyJ...) (property)', () => {
    fc.assert(
      fc.property(around, b64url(0), b64url(1), b64url(0), around, (pre, header, payload, signature, post) => {
        const jwt = `eyJ${header}.${payload}.${signature}`;
        const out = redact(`${pre} ${jwt} ${post}`);
        expect(out).not.toContain(jwt);
        if (payload.length >= 8 && !`${pre} ${post}`.includes(payload)) expect(out).not.toContain(payload);
        if (signature.length >= 8 && !`${pre} ${post}`.includes(signature)) expect(out).not.toContain(signature);
      }),
    );
  });

  it('never yields more than 2 000 characters (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 5000 }), (text) => redact(text).length <= 2000));
  });
});

describe('the GCS provider quotes a library error only redacted', () => {
  let server: Server;
  let endpoint: string;
  const creds: SecretData = fakeServiceAccountSecret();

  beforeAll(async () => {
    server = createServer((_req, res) => {
      const message = `Permission denied for ${ACCESS_TOKEN} (subject ${JWT})`;
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 403, message, errors: [{ reason: 'forbidden', message }] } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('a 403 whose message carries an access token and a JWT: neither is in the error', async () => {
    const err = await createGcsProvider({ apiEndpoint: endpoint })
      .open('bucket', creds)
      .inventory('shoot--dev--demo--uid1/', { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(isClassifiedError(err)).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain('permission denied');
    expect(message).not.toContain(ACCESS_TOKEN.slice(5));
    expect(message).not.toContain(JWT.split('.')[1]);
  });
});
