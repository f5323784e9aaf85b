/**
 * `/readyz` asks Temporal at most once at a time: concurrent probes share the call in flight (and its answer is
 * reused for 5 s), so a burst of probes costs the frontend one `GetSystemInfo`. A counting stand-in for the connection
 * holds each call open until the test answers it.
 */
import { Registry } from 'prom-client';
import { startHealthServer } from '../../../adapters/http/health-server';
import { temporalReachability, type TemporalPingable } from '../../../adapters/temporal-probe';

/** A connection whose `getSystemInfo` calls are counted and stay pending until `answer()`. */
function countingConnection(): TemporalPingable & { calls: number; answer(ok: boolean): void; pending(): number } {
  const waiting: Array<(ok: boolean) => void> = [];
  const c = {
    calls: 0,
    withDeadline: <R>(_deadline: number, fn: () => Promise<R>) => fn(),
    workflowService: {
      getSystemInfo: () => {
        c.calls += 1;
        return new Promise<unknown>((resolve, reject) =>
          waiting.push((ok) => (ok ? resolve({}) : reject(new Error('UNAVAILABLE')))),
        );
      },
    },
    answer: (ok: boolean) => {
      for (const w of waiting.splice(0)) w(ok);
    },
    pending: () => waiting.length,
  };
  return c;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

afterEach(() => jest.restoreAllMocks());

describe('the Temporal readiness check', () => {
  it('N concurrent checks make one call while it is in flight, and all get its answer', async () => {
    const conn = countingConnection();
    const check = temporalReachability(() => conn);
    const answers = Promise.all(Array.from({ length: 20 }, () => check()));
    await tick();
    expect(conn.calls).toBe(1);
    conn.answer(true);
    expect(await answers).toEqual(Array(20).fill(true));
    expect(conn.calls).toBe(1);
  });

  it('a failing call is shared too, and the next check after the cache period makes a new one', async () => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(1_000_000);
    const conn = countingConnection();
    const check = temporalReachability(() => conn);
    const first = Promise.all([check(), check(), check()]);
    await tick();
    conn.answer(false);
    expect(await first).toEqual([false, false, false]);
    expect(await check()).toBe(false); // cached
    expect(conn.calls).toBe(1);
    now.mockReturnValue(1_000_000 + 5001);
    const second = Promise.all([check(), check()]);
    await tick();
    expect(conn.calls).toBe(2);
    conn.answer(true);
    expect(await second).toEqual([true, true]);
  });

  it('a connection that throws at once does not wedge the check', async () => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(2_000_000);
    let calls = 0;
    const conn: TemporalPingable = {
      withDeadline: () => {
        calls += 1;
        throw new Error('closed');
      },
      workflowService: { getSystemInfo: async () => ({}) },
    };
    const check = temporalReachability(() => conn);
    expect(await Promise.all([check(), check()])).toEqual([false, false]);
    expect(calls).toBe(1);
    now.mockReturnValue(2_000_000 + 5001);
    expect(await check()).toBe(false);
    expect(calls).toBe(2);
  });

  it('no connection yet: not ready, no call', async () => {
    expect(await temporalReachability(() => undefined)()).toBe(false);
  });

  it('through /readyz: 10 concurrent probes, one Temporal call', async () => {
    const conn = countingConnection();
    const reachable = temporalReachability(() => conn);
    let asked = 0;
    const server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      live: () => true,
      ready: async () => {
        asked += 1;
        const ok = await reachable();
        return { ok, detail: ok ? [] : ['temporal: not reachable'] };
      },
    });
    try {
      const probes = Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`http://127.0.0.1:${server.port}/readyz`).then(async (r) => [r.status, await r.text()]),
        ),
      );
      const deadline = Date.now() + 10_000;
      while (asked < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(asked).toBe(10); // every probe has arrived and asked while the first call is still open
      expect(conn.calls).toBe(1);
      expect(conn.pending()).toBe(1);
      conn.answer(true);
      expect(await probes).toEqual(Array(10).fill([200, 'ok\n']));
      expect(conn.calls).toBe(1);
    } finally {
      await server.close();
    }
  });
});
