/**
 * Long listings heartbeat: `deleteBackups` runs under a 2-minute heartbeat timeout, so its final "is the
 * prefix empty" listing must heartbeat while it runs, like the inventory and the deletion do. The providers report
 * the running count of `remaining` for that (local: per object; gcp: per object name, checked against a loopback
 * stub of the JSON API).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createStorageActivities, type DeletionHeartbeat } from '../../../activities/storage-activities';
import type {
  BucketSession,
  DeletionProgress,
  DeletionReceipt,
  ObjectCount,
  SecretData,
  StorageProvider,
} from '../../../activities/storage-port';
import { createGcsProvider } from '../../../adapters/storage/gcs-provider';
import { createLocalProvider } from '../../../adapters/storage/local-provider';
import { fakeServiceAccountSecret } from '../../support/fake-service-account';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const PREFIX = `${ENTRY}/`;
const never = new AbortController().signal;
const SECRET = 'NOT-A-REAL-PRIVATE-KEY-7f3a';
const CREDS: SecretData = fakeServiceAccountSecret(SECRET);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Phase = 'open' | 'inventory' | 'delete' | 'remaining' | 'done';

/**
 * A provider whose final listing is slow: 10 objects under retention (they stay, and are counted as locked), one
 * every `stepMs`. Inventory and deletion are quick.
 */
function slowListingProvider(stepMs: number, phase: { now: Phase }): StorageProvider {
  const session: BucketSession = {
    async inventory(_prefix, opts) {
      phase.now = 'inventory';
      opts.onProgress?.({ objects: 10, bytes: 100 });
      return { objects: 10, bytes: 100, truncated: false };
    },
    async deletePrefix(_prefix, opts) {
      phase.now = 'delete';
      const p: DeletionProgress = {
        cursor: `${PREFIX}last`,
        deletedObjects: 0,
        deletedBytes: 0,
        lockedObjects: 10,
        rewrittenObjects: 0,
        listedObjects: 10,
      };
      opts.onProgress(p);
      return p;
    },
    async remaining(_prefix, opts) {
      phase.now = 'remaining';
      let objects = 0;
      for (let i = 0; i < 10; i += 1) {
        await sleep(stepMs);
        opts.signal.throwIfAborted();
        objects += 1;
        opts.onProgress?.({ objects, bytes: objects * 10 });
      }
      phase.now = 'done';
      return { objects, locked: objects, bytes: objects * 10 };
    },
    async close() {
      // nothing held
    },
  };
  return { type: 'gcp', etcdSecretExtras: () => ({}), open: () => session };
}

function mockEnv(): MockActivityEnvironment {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
}

describe('heartbeats during long listings', () => {
  it('deleteBackups heartbeats while the final "is the prefix empty" listing runs (throttled, small, no secrets)', async () => {
    const phase = { now: 'open' as Phase };
    const activities = createStorageActivities({
      readEntry: async () => ({ type: 'gcp', bucketName: 'bucket', secretData: CREDS }),
      providers: new Map([['gcp', slowListingProvider(30, phase)]]),
      heartbeatIntervalMs: 20,
    });
    const env = mockEnv();
    const beats: Array<{ phase: Phase; details: DeletionHeartbeat }> = [];
    env.on('heartbeat', (details: DeletionHeartbeat) => beats.push({ phase: phase.now, details }));
    const receipt = (await env.run(activities.deleteBackups, ENTRY)) as DeletionReceipt;
    expect(receipt).toMatchObject({ remainingObjects: 10, lockedObjects: 10 });

    const during = beats.filter((b) => b.phase === 'remaining');
    // 10 steps of 30 ms against a 20 ms throttle: nearly every step beats; demand half to stay robust on a busy box.
    expect(during.length).toBeGreaterThanOrEqual(5);
    for (const { details } of during) {
      // The finished deletion's progress: a retry after a lost worker resumes at its end.
      expect(details).toMatchObject({ cursor: `${PREFIX}last`, lockedObjects: 10, inventoried: { objects: 10 } });
    }
    for (const { details } of beats) expect(JSON.stringify(details).length).toBeLessThan(600);
    expect(JSON.stringify(beats)).not.toContain(SECRET);
  });

  it('the local provider reports the running count of remaining, per object', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bel-hb-'));
    try {
      for (const k of ['etcd-main/v2/a', 'etcd-main/v2/b', 'etcd-events/v2/c']) {
        const p = join(root, 'backups', ENTRY, ...k.split('/'));
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, 'xy');
      }
      const counts: ObjectCount[] = [];
      const rest = await createLocalProvider({ rootDir: root })
        .open('backups', {})
        .remaining(PREFIX, { signal: never, onProgress: (c) => counts.push(c) });
      expect(rest).toEqual({ objects: 3, locked: 0, bytes: 6 });
      expect(counts).toEqual([
        { objects: 1, bytes: 2 },
        { objects: 2, bytes: 4 },
        { objects: 3, bytes: 6 },
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  describe('gcp provider (loopback stub of the JSON API)', () => {
    let server: Server;
    let endpoint: string;
    const names = ['a', 'b', 'c', 'd', 'e'].map((n) => `${PREFIX}${n}`);
    let pagesServed = 0;

    beforeAll(async () => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://stub');
        if (req.method !== 'GET' || !/^\/storage\/v1\/b\/[^/]+\/o$/.test(url.pathname)) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 404, message: 'Not Found' } }));
          return;
        }
        pagesServed += 1;
        const max = Number(url.searchParams.get('maxResults') ?? 1000);
        const token = url.searchParams.get('pageToken');
        const from = token === null ? 0 : names.indexOf(token);
        const items = names
          .slice(from, from + max)
          .map((name) => ({ name, generation: '1700000000000001', size: '7' }));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ items, ...(from + max < names.length ? { nextPageToken: names[from + max] } : {}) }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });

    it('reports the running count of remaining across pages', async () => {
      const counts: ObjectCount[] = [];
      const session = createGcsProvider({ apiEndpoint: endpoint, pageSize: 2 }).open('bucket', CREDS);
      const rest = await session.remaining(PREFIX, { signal: never, onProgress: (c) => counts.push(c) });
      expect(rest).toEqual({ objects: 5, locked: 0, bytes: 35 });
      expect(counts.map((c) => c.objects)).toEqual([1, 2, 3, 4, 5]);
      expect(counts.at(-1)).toEqual({ objects: 5, bytes: 35 });
      expect(pagesServed).toBe(3);
    });
  });
});
