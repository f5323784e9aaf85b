/**
 * A token-exchange stand-in on 127.0.0.1 for GCP workload identity federation: answers the STS token exchange
 * (`POST /v1/token`, RFC 8693 form) and the IAM Credentials `generateAccessToken` call of a service account
 * impersonation, checking what it is sent: the subject token and audience at STS, the bearer token and account at
 * impersonation. Everything it saw is in `seen`; a rule can make it fail with a chosen status.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the stand-in accepts and hands out. */
export interface StsStandInOptions {
  /** The only subject token the exchange accepts. */
  subjectToken: string;
  /** The only audience it accepts. */
  audience: string;
  /** The access token the exchange returns. */
  accessToken: string;
  /** Impersonation: the account it serves and the token it returns (for `Bearer <accessToken>` only). */
  impersonation?: { email: string; accessToken: string };
}

/** One request the stand-in saw. */
export interface StsRequest {
  path: string;
  /** Form fields of an exchange (`subject_token`, `audience`, `scope`, ...). */
  form?: Record<string, string>;
  authorization?: string;
  /** The status it answered with. */
  status: number;
}

export interface StsStandIn {
  /** `http://127.0.0.1:<port>/v1/token`: the STS endpoint to configure. */
  stsEndpoint: string;
  /** `http://127.0.0.1:<port>`: the IAM Credentials base URL to configure. */
  iamCredentialsEndpoint: string;
  seen: StsRequest[];
  /** When set, every request is answered with this status (and an OAuth error body for the exchange). */
  failWith?: number;
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Starts the stand-in on a free loopback port. */
export async function startStsStandIn(opts: StsStandInOptions): Promise<StsStandIn> {
  const sockets = new Set<Socket>();
  const standIn: StsStandIn = {
    stsEndpoint: '',
    iamCredentialsEndpoint: '',
    seen: [],
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
      const text = await body(req);
      const record: StsRequest = {
        path,
        status: 0,
        ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      };
      standIn.seen.push(record);
      const answer = (status: number, value: unknown): void => {
        record.status = status;
        json(res, status, value);
      };
      if (req.method === 'POST' && path === '/v1/token') {
        const form = Object.fromEntries(new URLSearchParams(text));
        record.form = form;
        if (standIn.failWith) return answer(standIn.failWith, { error: 'temporarily_unavailable' });
        const ok =
          form.grant_type === 'urn:ietf:params:oauth:grant-type:token-exchange' &&
          form.subject_token_type === 'urn:ietf:params:oauth:token-type:jwt' &&
          form.requested_token_type === 'urn:ietf:params:oauth:token-type:access_token' &&
          form.subject_token === opts.subjectToken &&
          form.audience === opts.audience;
        if (!ok)
          return answer(400, { error: 'invalid_grant', error_description: 'the subject token was not accepted' });
        return answer(200, {
          access_token: opts.accessToken,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 3600,
        });
      }
      const m = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(path);
      if (req.method === 'POST' && m && opts.impersonation) {
        if (standIn.failWith)
          return answer(standIn.failWith, { error: { code: standIn.failWith, message: 'failing on purpose' } });
        if (req.headers.authorization !== `Bearer ${opts.accessToken}`) {
          return answer(401, { error: { code: 401, message: 'the caller is not authenticated' } });
        }
        if (decodeURIComponent(m[1]!) !== opts.impersonation.email) {
          return answer(403, { error: { code: 403, message: 'permission iam.serviceAccounts.getAccessToken denied' } });
        }
        return answer(200, {
          accessToken: opts.impersonation.accessToken,
          expireTime: new Date(Date.now() + 3600_000).toISOString(),
        });
      }
      return answer(404, { error: 'not_found' });
    })();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  standIn.iamCredentialsEndpoint = `http://127.0.0.1:${port}`;
  standIn.stsEndpoint = `${standIn.iamCredentialsEndpoint}/v1/token`;
  return standIn;
}
