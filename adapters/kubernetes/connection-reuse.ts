/**
 * Keep-alive connections to the API server for `@kubernetes/client-node`.
 *
 * client-node 2.0.1 builds a new undici Agent for every request (`KubeConfig.applySecurityAuthentication` →
 * `createDispatcher`), so every request opens its own TCP connection and TLS handshake. At seed scale that handshake
 * was most of the worker's CPU and a large share of the API server's (measured: README "Benchmarks"). No option turns
 * it off, hence this small wrapper: one dispatcher per distinct TLS identity (server, CA, client certificate and key,
 * verification settings), reused for every request with that identity. A rotated client certificate has another
 * identity and gets its own dispatcher; bearer tokens are request headers and are unaffected.
 *
 * The pool speaks HTTP/1.1 only. undici 8 negotiates HTTP/2 by default, and with one shared pool every request and
 * every watch of the process then becomes a stream of a single HTTP/2 connection: under a burst of writes the watch
 * streams fell tens of seconds behind (measured: 3 000 entries and secrets created at 50 in flight, the secret
 * watch silent for 12 s after the last create, the entry watch 2 200 events behind; the retention benchmark's watch
 * never caught up at 5 000). With HTTP/1.1 each watch keeps a connection of its own and requests reuse idle ones.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'undici';

const PATCHED = Symbol.for('backupentry-lifecycle.kube-connection-reuse');

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;
type DispatcherOptions = { type?: string; connect?: Record<string, unknown> };
type CreateDispatcherOptions = (cluster: unknown, agentOptions: Record<string, unknown>) => DispatcherOptions;

/** The identity a dispatcher is built for: the cluster's address and proxy, and the TLS options. */
function identityOf(cluster: unknown, opts: Record<string, unknown>): string {
  const hash = createHash('sha256');
  const c = (cluster ?? {}) as { server?: unknown; proxyUrl?: unknown };
  hash.update(`${String(c.server)}\0${String(c.proxyUrl)}\0`);
  for (const key of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
    const v = opts[key];
    hash.update(`${key}=`);
    if (v instanceof Uint8Array) hash.update(v);
    else hash.update(v === undefined ? '<unset>' : JSON.stringify(v));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/**
 * Makes `kc` reuse one connection pool per TLS identity instead of one per request; idempotent. Returns `kc`.
 * Falls back to client-node's own behaviour if its internals differ from 2.0.1's.
 */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as {
    createDispatcher?: CreateDispatcher;
    createDispatcherOptions?: CreateDispatcherOptions;
    [PATCHED]?: true;
  };
  if (target[PATCHED] || typeof target.createDispatcher !== 'function') return kc;
  const original = target.createDispatcher.bind(kc);
  const optionsOf = target.createDispatcherOptions?.bind(kc);
  // A direct connection gets an HTTP/1.1 pool with client-node's own connect options; proxies stay client-node's.
  const build = (cluster: unknown, agentOptions: Record<string, unknown>): unknown => {
    const opts = optionsOf?.(cluster, agentOptions);
    return opts?.type === 'agent' && opts.connect
      ? new Agent({ connect: opts.connect, allowH2: false })
      : original(cluster, agentOptions);
  };
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = identityOf(cluster, agentOptions);
    if (!pools.has(key)) pools.set(key, build(cluster, agentOptions));
    return pools.get(key);
  };
  target[PATCHED] = true;
  return kc;
}
