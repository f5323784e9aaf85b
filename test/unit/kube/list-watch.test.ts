/**
 * The list+watch loop against a scripted in-process HTTP server that plays the API server's watch endpoint: every
 * way a watch can end (410 as an event or as HTTP status, server errors, dropped connections, normal close) and the
 * guarantees: it never stops, it relists only on 410, it resumes from the last resourceVersion otherwise.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { Reflector, type ListResult, type RestartReason } from '../../../adapters/kubernetes/list-watch';

type Step = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

interface Obj {
  metadata: { name: string; resourceVersion: string };
}
const obj = (name: string, rv: string): Obj => ({ metadata: { name, resourceVersion: rv } });
const line = (type: string, o: unknown): string => `${JSON.stringify({ type, object: o })}\n`;

class FakeApi {
  server!: Server;
  steps: Step[] = [];
  watchUrls: URL[] = [];
  lists: ListResult[] = [];
  listCalls = 0;
  listFailures = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.watchUrls.push(url);
      const step = this.steps.shift();
      if (step) step(req, res, url);
      else {
        res.writeHead(200);
        res.flushHeaders();
      } // hold the watch open, silent
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'c', server: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`, skipTLSVerify: true },
      ],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  }

  list = async (): Promise<ListResult> => {
    this.listCalls += 1;
    if (this.listFailures > 0) {
      this.listFailures -= 1;
      throw Object.assign(new Error('HTTP-Code: 500'), { code: 500 });
    }
    return this.lists.shift() ?? { items: [], metadata: { resourceVersion: '1' } };
  };

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let api: FakeApi;
let reflector: Reflector<Obj> | undefined;
const events: string[] = [];
const restarts: RestartReason[] = [];
const syncs: string[][] = [];

function makeReflector(idleTimeoutMs = 60_000): Reflector<Obj> {
  reflector = new Reflector<Obj>({
    name: 'things',
    kubeConfig: api.kubeConfig(),
    path: '/apis/x/v1/things',
    list: api.list,
    transform: (o) => o as Obj,
    keyOf: (o) => o.metadata.name,
    onSync: (cur) => syncs.push([...cur.keys()].sort()),
    onEvent: (type, o) => events.push(`${type}:${o.metadata.name}@${o.metadata.resourceVersion}`),
    idleTimeoutMs,
    watchTimeoutMs: 300_000,
    log: pino({ level: 'silent' }),
    backoff: { initialMs: 10, maxMs: 50 },
    onRestart: (r) => restarts.push(r),
  });
  return reflector;
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeEach(async () => {
  api = new FakeApi();
  await api.start();
  events.length = 0;
  restarts.length = 0;
  syncs.length = 0;
});

afterEach(async () => {
  await reflector?.stop();
  reflector = undefined;
  await api.stop();
});

describe('Reflector', () => {
  it('lists, then watches from the list resourceVersion with bookmarks and a server-side timeout', async () => {
    api.lists.push({ items: [obj('a', '5')], metadata: { resourceVersion: '7' } });
    api.steps.push((_req, res) => {
      res.writeHead(200);
      res.write(line('ADDED', obj('b', '8')));
      res.write(line('BOOKMARK', { metadata: { resourceVersion: '12' } }));
      res.end(); // normal close: re-watch from the bookmark, no relist
    });
    const r = makeReflector();
    r.start();
    await until(() => api.watchUrls.length >= 2 && r.isInSync(), 'second watch');
    const [first, second] = api.watchUrls;
    expect(first!.searchParams.get('resourceVersion')).toBe('7');
    expect(first!.searchParams.get('allowWatchBookmarks')).toBe('true');
    expect(Number(first!.searchParams.get('timeoutSeconds'))).toBeGreaterThanOrEqual(300);
    expect(Number(first!.searchParams.get('timeoutSeconds'))).toBeLessThan(600);
    expect(second!.searchParams.get('resourceVersion')).toBe('12');
    expect(api.listCalls).toBe(1);
    expect(syncs).toEqual([['a']]);
    expect(events).toEqual(['ADDED:b@8']);
    expect([...r.items().keys()].sort()).toEqual(['a', 'b']);
  });

  it('relists after a 410 ERROR event and after an HTTP 410', async () => {
    api.lists.push(
      { items: [obj('a', '5')], metadata: { resourceVersion: '7' } },
      { items: [obj('a', '5'), obj('c', '20')], metadata: { resourceVersion: '21' } },
      { items: [obj('c', '20')], metadata: { resourceVersion: '30' } },
    );
    api.steps.push(
      (_req, res) => {
        res.writeHead(200);
        res.write(line('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }));
        // The server would close; the reflector must not wait for it.
      },
      (_req, res) => {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Gone' }));
      },
    );
    const r = makeReflector();
    r.start();
    await until(() => api.listCalls === 3 && api.watchUrls.length >= 3, 'third list and watch');
    expect(syncs).toEqual([['a'], ['a', 'c'], ['c']]);
    expect(api.watchUrls.map((u) => u.searchParams.get('resourceVersion'))).toEqual(['7', '21', '30']);
    expect(restarts).toEqual(['gone', 'gone']);
  });

  it('restarts with backoff after server errors and dropped connections, resuming from the last resourceVersion', async () => {
    api.lists.push({ items: [], metadata: { resourceVersion: '7' } });
    api.steps.push(
      (_req, res) => {
        res.writeHead(200);
        res.write(line('ADDED', obj('a', '9')));
        setTimeout(() => res.socket?.destroy(), 20); // connection reset mid-stream
      },
      (_req, res) => {
        res.writeHead(500);
        res.end('{"kind":"Status","code":500}');
      },
      (_req, res) => {
        res.writeHead(200);
        res.write(line('ERROR', { kind: 'Status', code: 500, reason: 'InternalError' }));
      },
      (_req, res) => {
        res.writeHead(200);
        res.write(line('MODIFIED', obj('a', '11')));
      },
    );
    const r = makeReflector();
    r.start();
    await until(() => events.length === 2 && r.isInSync(), 'the event after the errors');
    expect(api.listCalls).toBe(1);
    expect(api.watchUrls.map((u) => u.searchParams.get('resourceVersion'))).toEqual(['7', '9', '9', '9']);
    expect(restarts).toEqual(['error', 'error', 'error']);
    expect(events).toEqual(['ADDED:a@9', 'MODIFIED:a@11']);
  });

  it('keeps retrying a failing list and is not in sync meanwhile', async () => {
    api.listFailures = 3;
    const r = makeReflector();
    r.start();
    await until(() => api.listCalls === 2, 'second list attempt');
    expect(r.isInSync()).toBe(false);
    await until(() => r.isInSync(), 'in sync after the list succeeds');
    expect(api.listCalls).toBe(4);
  });

  it('the idle watchdog restarts a silent watch from the last resourceVersion', async () => {
    api.lists.push({ items: [], metadata: { resourceVersion: '7' } });
    api.steps.push((_req, res) => {
      res.writeHead(200);
      res.write(line('ADDED', obj('a', '9')));
      // then silence: no events, no bookmarks
    });
    const r = makeReflector(300);
    r.start();
    await until(() => api.watchUrls.length >= 3, 'two idle restarts');
    expect(restarts.slice(0, 2)).toEqual(['idle', 'idle']);
    expect(api.watchUrls[1]!.searchParams.get('resourceVersion')).toBe('9');
    expect(api.listCalls).toBe(1);
    expect(r.isInSync()).toBe(true);
  });

  it('relist() lists again at once and stop() ends a hanging list promptly', async () => {
    const r = makeReflector();
    r.start();
    await until(() => r.isInSync(), 'in sync');
    r.relist();
    await until(() => api.listCalls === 2 && r.isInSync(), 'relisted');
    expect(restarts).toEqual(['relist']);
    let release!: () => void;
    api.list = () =>
      new Promise<ListResult>((resolve) => {
        release = () => resolve({ items: [] });
      });
    const r2 = makeReflector();
    r2.start();
    const t0 = Date.now();
    await r2.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    release();
    await r.stop();
  });

  it('stop() and relist() do not wait for a watch whose connect hangs', async () => {
    const hang: Step = () => undefined; // never answers: no headers
    api.steps.push(hang, hang);
    const r = makeReflector();
    r.start();
    await until(() => api.watchUrls.length === 1, 'first watch request');
    r.relist();
    await until(() => api.listCalls === 2 && api.watchUrls.length === 2, 'relisted while the connect hung');
    const t0 = Date.now();
    await r.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
