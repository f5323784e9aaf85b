import { createServer } from 'node:net';

/** Ports this process has handed out: never hand the same one out twice, even if it is free again. */
const handedOut = new Set<number>();

/**
 * Asks the kernel for a free TCP port on 127.0.0.1 that this process has not handed out before (parts of the stack
 * start side by side, so a port released for one could otherwise be given to the next). The port is released before
 * it is used, so a start can still race with another process (envtest has the same gap); the stack retries a failed
 * start.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i += 1) {
    const port = await kernelPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free TCP port found on 127.0.0.1 after 100 tries');
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
