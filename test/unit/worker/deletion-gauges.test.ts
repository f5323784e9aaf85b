/**
 * The worker's view of deletions in flight: `bel_worker_deletions_in_flight`, their objects (inventoried, deleted),
 * how long the stalest has gone without progress, and the object store's 429/503 answers.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createStorageActivities, type DeletionHeartbeat } from '../../../activities/storage-activities';
import type { StorageProvider } from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { createLocalProvider } from '../../../adapters/storage/local-provider';
import { createWorkerMetrics } from '../../../worker/worker-metrics';
import { metricValue as value } from '../../support/metric-value';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';

describe('worker metrics: deletions in flight', () => {
  it('tracks progress and the time since the last progress, with a clock of its own', async () => {
    let t = 1_000_000;
    const m = createWorkerMetrics(() => 'RUNNING', { now: () => t });
    const a = m.sink.deletionStarted!('gcp');
    const b = m.sink.deletionStarted!('local');
    a.progress({ inventoried: 100, listed: 0, deleted: 0, locked: 0, rewritten: 0 });
    b.progress({ inventoried: 10, listed: 10, deleted: 4, locked: 0, rewritten: 0 });
    t += 30_000;
    a.progress({ listing: true }); // a listing page: progress without counts
    t += 5_000;
    b.progress({ inventoried: 10, listed: 10, deleted: 4, locked: 0, rewritten: 0 }); // same counts again: no progress
    let text = await m.registry.metrics();
    expect(value(text, 'bel_worker_deletions_in_flight')).toBe(2);
    expect(value(text, 'bel_worker_deletions_in_flight_objects', { count: 'inventoried' })).toBe(110);
    expect(value(text, 'bel_worker_deletions_in_flight_objects', { count: 'deleted' })).toBe(4);
    expect(value(text, 'bel_worker_deletion_stalled_seconds')).toBe(35);
    b.progress({ inventoried: 10, listed: 10, deleted: 5, locked: 0, rewritten: 0 });
    t += 2_000;
    text = await m.registry.metrics();
    expect(value(text, 'bel_worker_deletion_stalled_seconds')).toBe(7); // a's listing page was 7 s ago
    a.end();
    a.end();
    b.end();
    text = await m.registry.metrics();
    expect(value(text, 'bel_worker_deletions_in_flight')).toBe(0);
    expect(value(text, 'bel_worker_deletion_stalled_seconds')).toBe(0);
    expect(value(text, 'bel_worker_deletions_in_flight_objects', { count: 'inventoried' })).toBe(0);
  });

  it('deleteBackups reports itself in flight with its inventory and progress, and leaves when done', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bel-dg-'));
    try {
      for (let i = 0; i < 30; i++) {
        const file = join(root, 'b', ENTRY, 'etcd-main', 'v2', `Incr-${String(i).padStart(8, '0')}.gz`);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, 'x');
      }
      const m = createWorkerMetrics(() => 'RUNNING');
      const activities = createStorageActivities({
        readEntry: async () => ({ type: 'local', bucketName: 'b', secretData: {} }),
        providers: new Map<string, StorageProvider>([['local', createLocalProvider({ rootDir: root })]]),
        heartbeatIntervalMs: 0,
        metrics: m.sink,
      });
      const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
      const seen: Promise<string>[] = [];
      env.on('heartbeat', (d: DeletionHeartbeat) => {
        if (d.deletedObjects === 10) seen.push(m.registry.metrics());
      });
      await env.run(activities.deleteBackups, ENTRY);
      const during = await seen[0]!;
      expect(value(during, 'bel_worker_deletions_in_flight')).toBe(1);
      expect(value(during, 'bel_worker_deletions_in_flight_objects', { count: 'inventoried' })).toBe(30);
      expect(value(during, 'bel_worker_deletions_in_flight_objects', { count: 'deleted' })).toBeGreaterThanOrEqual(10);
      const after = await m.registry.metrics();
      expect(value(after, 'bel_worker_deletions_in_flight')).toBe(0);
      expect(value(after, 'bel_worker_deleted_objects_total', { provider: 'local' })).toBe(30);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("counts the object store's 429/503 answers (gcp provider hook), each retried", async () => {
    const name = `${ENTRY}/etcd-main/v2/Full-1.gz`;
    let deletes = 0;
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://stub');
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            url.searchParams.get('prefix') && deletes < 3 ? { items: [{ name, generation: '1', size: '1' }] } : {},
          ),
        );
        return;
      }
      deletes += 1;
      const status = deletes === 1 ? 429 : deletes === 2 ? 503 : 204;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        status === 204
          ? ''
          : JSON.stringify({
              error: { code: status, message: 'slow down', errors: [{ reason: 'rateLimitExceeded' }] },
            }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const m = createWorkerMetrics(() => 'RUNNING');
      const provider = createGcsProvider({
        apiEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        onThrottled: (status) => m.sink.throttled!('gcp', status),
      });
      const session = provider.open('bkt', {
        'serviceaccount.json': Buffer.from(
          JSON.stringify({
            type: 'service_account',
            project_id: 'p',
            client_email: 'a@p.iam.gserviceaccount.com',
            private_key_id: 'k',
            private_key: 'not-a-key',
            token_uri: 'https://t',
          }),
        ),
      });
      const done = await session.deletePrefix(`${ENTRY}/`, {
        signal: new AbortController().signal,
        onProgress: () => undefined,
      });
      await session.close();
      expect(done.deletedObjects).toBe(1);
      const text = await m.registry.metrics();
      expect(value(text, 'bel_worker_storage_throttled_total', { provider: 'gcp', status: '429' })).toBe(1);
      expect(value(text, 'bel_worker_storage_throttled_total', { provider: 'gcp', status: '503' })).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
