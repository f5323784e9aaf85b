/**
 * A port for a server that must come back on the same address after a crash (restart tests). Ports from the kernel's
 * ephemeral range (what `freePort` hands out) can be taken by any other process while the server is down, so this
 * picks a free port below that range instead.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/** A currently free TCP port on 127.0.0.1 in [10000, start of the ephemeral range), never the same one twice. */
export async function stablePort(): Promise<number> {
  const hi = Math.max(10_001, ephemeralStart());
  for (let i = 0; i < 200; i++) {
    const port = 10_000 + Math.floor(Math.random() * (hi - 10_000));
    if (!handedOut.has(port) && (await isFree(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

/**
 * Listens on `port` until the returned function is called: keeps a crashed server's port from being handed to anyone
 * else while it is down (release it right before the server starts again). Resolves to a no-op if it is taken.
 */
export function holdPort(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve) => {
    const srv = createServer((s) => s.destroy());
    srv.unref();
    srv.once('error', () => resolve(async () => undefined));
    srv.listen(port, '127.0.0.1', () => resolve(() => new Promise<void>((r) => srv.close(() => r()))));
  });
}
