/**
 * The HTTP endpoint of the worker and the watcher: `/metrics` (Prometheus text), `/healthz` (liveness) and `/readyz`
 * (readiness). Each process builds its own registry and checks; this module only serves them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Result of a readiness check: `ok`, and a one-line reason per failed part. */
export interface Readiness {
  ok: boolean;
  detail: string[];
}

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** 0 picks a free port. */
  port: number;
  /**
   * Address to listen on.
   * @default undefined (all interfaces)
   */
  host?: string;
  registry: Registry;
  /**
   * More Prometheus text appended to the registry's on `/metrics` (the worker appends the Temporal runtime's own
   * exporter). A failure or an empty string appends nothing; the registry's metrics are served anyway.
   * @default undefined (nothing appended)
   */
  extraMetrics?: () => Promise<string>;
  /** Liveness: false when the process should be restarted. */
  live(): boolean;
  ready(): Promise<Readiness>;
}

/** A running endpoint. */
export interface HealthServer {
  /** The bound port. */
  port: number;
  close(): Promise<void>;
}

/**
 * Starts the endpoint. `/healthz` answers 200 `ok` while `live()`, else 503; `/readyz` answers 200 `ok` or 503 with
 * the failed parts, one per line; `/metrics` the registry; anything else 404. Resolves once listening.
 */
export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return o.live() ? reply(200, 'ok\n') : reply(503, 'not live\n');
    if (path === '/readyz') {
      o.ready().then(
        (r) => reply(r.ok ? 200 : 503, r.ok ? 'ok\n' : `${r.detail.join('\n')}\n`),
        (err: unknown) => reply(503, `readiness check failed: ${err instanceof Error ? err.name : 'error'}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      const extra = o.extraMetrics ? o.extraMetrics().catch(() => '') : Promise.resolve('');
      Promise.all([o.registry.metrics(), extra]).then(
        ([own, more]) => {
          const sep = own.endsWith('\n') || !more ? '' : '\n';
          reply(200, `${own}${sep}${more}`, o.registry.contentType);
        },
        () => reply(500, 'metrics collection failed\n'),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
