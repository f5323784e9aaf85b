/**
 * Keep-alive connections to the real API server (adapters/kubernetes/connection-reuse.ts): requests share pooled
 * connections instead of a TLS handshake each, and a watch keeps a connection of its own. Measured before the pool
 * was pinned to HTTP/1.1: undici 8 negotiated HTTP/2, every request and watch became a stream of one connection, and
 * under a burst of writes the watches fell tens of seconds behind.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import type { Agent } from 'undici';
import { reuseConnections } from '../../../adapters/kubernetes/connection-reuse';
import { Reflector } from '../../../adapters/kubernetes/list-watch';
import { waitFor } from '../../../tools/stack/wait';
import { adminKubeConfig } from '../../support/env';

/** The dispatcher client-node hands to a request made with `kc` (the pooled one, after reuseConnections). */
async function dispatcherOf(kc: KubeConfig): Promise<Agent> {
  const headers: Record<string, string> = {};
  let dispatcher: unknown;
  const ctx = {
    setHeaderParam: (k: string, v: string) => {
      headers[k] = v;
    },
    getHeaders: () => headers,
    setDispatcher: (d: unknown) => {
      dispatcher = d;
    },
    getDispatcher: () => dispatcher,
    setAgent: () => undefined,
    getUrl: () => '',
  };
  await kc.applySecurityAuthentication(ctx as never);
  return dispatcher as Agent;
}

/** Open connections of the pool to the API server. */
function connections(agent: Agent, server: string): number {
  const stats = (agent as unknown as { stats: Record<string, { connected: number }> }).stats;
  return stats[new URL(server).origin]?.connected ?? 0;
}

describe('keep-alive connections to the API server', () => {
  it('one pool per TLS identity: ten sequential requests reuse its connections instead of opening ten', async () => {
    const kc = reuseConnections(adminKubeConfig());
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 10; i += 1) await core.listNamespace({ limit: 1 });
    const agent = await dispatcherOf(kc);
    expect(await dispatcherOf(kc)).toBe(agent);
    // Usually 1; a response whose socket is not back in the pool yet when the next request starts makes it 2.
    expect(connections(agent, kc.getCurrentCluster()!.server)).toBeLessThanOrEqual(2);
  });

  it('a watch keeps its own connection: concurrent requests beside it open more (HTTP/1.1, not streams of one HTTP/2 connection)', async () => {
    const kc = reuseConnections(adminKubeConfig());
    const core = kc.makeApiClient(CoreV1Api);
    let synced = false;
    const watch = new Reflector<{ name: string }>({
      name: 'connection-reuse-test',
      kubeConfig: kc,
      path: '/api/v1/namespaces',
      list: async ({ limit, continueToken }) =>
        (await core.listNamespace({ limit, ...(continueToken ? { _continue: continueToken } : {}) })) as never,
      transform: (o) => ({ name: (o as { metadata: { name: string } }).metadata.name }),
      keyOf: (o) => o.name,
      onSync: () => undefined,
      onEvent: () => undefined,
      onSyncChange: (v) => {
        synced = v;
      },
      idleTimeoutMs: 60_000,
      watchTimeoutMs: 300_000,
      log: pino({ level: 'silent' }),
    });
    watch.start();
    try {
      await waitFor(() => synced, { what: 'the watch open', timeoutMs: 30_000 });
      await Promise.all(Array.from({ length: 8 }, () => core.listNamespace({ limit: 1 })));
      const open = connections(await dispatcherOf(kc), kc.getCurrentCluster()!.server);
      // The watch's connection plus at least one for the requests; over HTTP/2 everything would share one.
      expect(open).toBeGreaterThanOrEqual(2);
    } finally {
      await watch.stop();
    }
  });
});
