/**
 * A fault-injecting HTTP proxy for the GCS JSON API, put in front of fake-gcs-server: answers chosen requests with
 * errors fake-gcs-server cannot produce (429, 503, 403 forbidden, 403 retention, 412), resets connections before or
 * after forwarding, delays responses, rewrites listings (e.g. to show a retention period), and measures what the
 * client did (requests per method, DELETEs in flight over time).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy saw of one request. */
export interface ProxiedRequest {
  /** When it arrived (epoch ms). */
  t: number;
  method: string;
  /** Decoded object name for object requests (`/storage/v1/b/<b>/o/<name>`), else undefined. */
  object?: string;
  /** True for object listings (`GET /storage/v1/b/<b>/o`). */
  list: boolean;
  bucket?: string;
  query: URLSearchParams;
  /** The request's `Authorization` header, if any (tests check what credentials the client sent). */
  authorization?: string;
}

/** What to do with a matched request. */
export type FaultAction =
  | { kind: 'status'; status: number; reason: string; message: string }
  | { kind: 'reset-before' }
  | { kind: 'reset-after' }
  | { kind: 'delay'; ms: number }
  | { kind: 'pass' };

/** A rule: the first rule whose `match` holds and that has uses left decides. */
export interface FaultRule {
  match(r: ProxiedRequest): boolean;
  action: FaultAction;
  /** Uses left; unlimited when unset. */
  times?: number;
  /** How often the rule fired, and when last. */
  fired?: number;
  lastFiredAt?: number;
}

/** One DELETE start: when, and how many DELETEs on its bucket were in flight including it. */
export interface InflightSample {
  t: number;
  bucket: string;
  inflight: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the GCS API endpoint to give the worker. */
  endpoint: string;
  rules: FaultRule[];
  /** Rewrites each listed item (return it modified); applied to every listing response. */
  rewriteListItem?: (item: Record<string, unknown>) => Record<string, unknown>;
  /** Every request seen, in order. */
  seen: ProxiedRequest[];
  /** Response statuses the proxy produced itself, by status. */
  injected: Map<string, number>;
  deleteSamples: InflightSample[];
  maxDeleteInflight: number;
  /** Names returned by each successful listing, in order. */
  listings: Array<{ t: number; bucket: string; names: string[] }>;
  /** Every DELETE forwarded upstream: when, which object, and the upstream status. */
  deletes: Array<{ t: number; bucket: string; name: string; status: number }>;
  /** Adds a rule in front of the others; returns it (its `fired` counts). */
  add(rule: FaultRule): FaultRule;
  clear(): void;
  stop(): Promise<void>;
}

function parse(req: IncomingMessage): ProxiedRequest {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const m = /^\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
  return {
    t: Date.now(),
    method: req.method ?? 'GET',
    list: !!m && m[2] === undefined && req.method === 'GET',
    ...(m ? { bucket: decodeURIComponent(m[1]!) } : {}),
    ...(m?.[2] !== undefined ? { object: decodeURIComponent(m[2]) } : {}),
    query: url.searchParams,
    ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
  };
}

/** Starts the proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:<port>`). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const sockets = new Set<Socket>();
  const inflightDeletes = new Map<string, number>();
  const proxy: FaultProxy = {
    endpoint: '',
    rules: [],
    seen: [],
    injected: new Map(),
    deleteSamples: [],
    maxDeleteInflight: 0,
    listings: [],
    deletes: [],
    add(rule) {
      rule.fired = 0;
      this.rules.unshift(rule);
      return rule;
    },
    clear() {
      this.rules.length = 0;
      this.rewriteListItem = undefined;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    r: ProxiedRequest,
    after?: 'reset',
  ): Promise<void> =>
    new Promise((resolve) => {
      const headers = { ...req.headers, host: up.host };
      const out = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          if (r.method === 'DELETE' && r.object !== undefined) {
            proxy.deletes.push({
              t: Date.now(),
              bucket: r.bucket ?? '',
              name: r.object,
              status: upRes.statusCode ?? 0,
            });
          }
          if (after === 'reset') {
            req.socket.destroy();
            resolve();
            return;
          }
          let payload = Buffer.concat(chunks);
          const h = { ...upRes.headers };
          if (r.list && upRes.statusCode === 200) {
            const doc = JSON.parse(payload.toString('utf8')) as { items?: Array<Record<string, unknown>> };
            proxy.listings.push({
              t: Date.now(),
              bucket: r.bucket ?? '',
              names: (doc.items ?? []).map((i) => String(i.name)),
            });
            if (proxy.rewriteListItem) {
              if (doc.items) doc.items = doc.items.map((i) => proxy.rewriteListItem!(i));
              payload = Buffer.from(JSON.stringify(doc));
              delete h['transfer-encoding'];
              h['content-length'] = String(payload.length);
            }
          }
          if (!res.destroyed) {
            res.writeHead(upRes.statusCode ?? 502, h);
            res.end(payload);
          }
          resolve();
        });
        upRes.on('error', () => resolve());
      });
      out.on('error', () => {
        if (!res.destroyed) req.socket.destroy();
        resolve();
      });
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const r = parse(req);
    proxy.seen.push(r);
    const isDelete = r.method === 'DELETE' && r.object !== undefined;
    const bucket = r.bucket ?? '';
    if (isDelete) {
      const n = (inflightDeletes.get(bucket) ?? 0) + 1;
      inflightDeletes.set(bucket, n);
      proxy.maxDeleteInflight = Math.max(proxy.maxDeleteInflight, n);
      proxy.deleteSamples.push({ t: Date.now(), bucket, inflight: n });
    }
    try {
      const rule = proxy.rules.find((x) => (x.times === undefined || x.times > 0) && x.match(r));
      if (rule) {
        if (rule.times !== undefined) rule.times -= 1;
        rule.fired = (rule.fired ?? 0) + 1;
        rule.lastFiredAt = Date.now();
      }
      const action: FaultAction = rule?.action ?? { kind: 'pass' };
      const count = (k: string): void => void proxy.injected.set(k, (proxy.injected.get(k) ?? 0) + 1);
      switch (action.kind) {
        case 'status':
          count(String(action.status));
          res.writeHead(action.status, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              error: {
                code: action.status,
                message: action.message,
                errors: [{ domain: 'global', reason: action.reason, message: action.message }],
              },
            }),
          );
          return;
        case 'reset-before':
          count('reset-before');
          req.socket.destroy();
          return;
        case 'reset-after':
          count('reset-after');
          await forward(req, res, body, r, 'reset');
          return;
        case 'delay':
          count('delay');
          await new Promise((x) => setTimeout(x, action.ms));
          if (res.destroyed || req.socket.destroyed) return;
          await forward(req, res, body, r);
          return;
        case 'pass':
          await forward(req, res, body, r);
      }
    } finally {
      if (isDelete) inflightDeletes.set(bucket, (inflightDeletes.get(bucket) ?? 1) - 1);
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** Rule helpers. */
export const on = {
  deletes:
    (bucket: string, pred: (name: string) => boolean = () => true) =>
    (r: ProxiedRequest): boolean =>
      r.bucket === bucket && r.method === 'DELETE' && r.object !== undefined && pred(r.object),
  lists:
    (bucket: string) =>
    (r: ProxiedRequest): boolean =>
      r.bucket === bucket && r.list,
  bucket:
    (bucket: string) =>
    (r: ProxiedRequest): boolean =>
      r.bucket === bucket,
};

export const faults = {
  status429: {
    kind: 'status',
    status: 429,
    reason: 'rateLimitExceeded',
    message: 'The rate of change requests to the bucket is too high',
  } as FaultAction,
  status503: { kind: 'status', status: 503, reason: 'backendError', message: 'Service Unavailable' } as FaultAction,
  forbidden: {
    kind: 'status',
    status: 403,
    reason: 'forbidden',
    message:
      'backup@reliability.iam.gserviceaccount.com does not have storage.objects.delete access to the Google Cloud Storage object.',
  } as FaultAction,
  forbiddenList: {
    kind: 'status',
    status: 403,
    reason: 'forbidden',
    message:
      'backup@reliability.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket.',
  } as FaultAction,
  retention: (name: string): FaultAction => ({
    kind: 'status',
    status: 403,
    reason: 'retentionPolicyNotMet',
    message: `Object '${name}' is subject to bucket's retention policy and cannot be deleted, overwritten or archived until 2099-01-01T00:00:00Z`,
  }),
  precondition: {
    kind: 'status',
    status: 412,
    reason: 'conditionNotMet',
    message: 'At least one of the pre-conditions you specified did not hold.',
  } as FaultAction,
};
