import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import {
  createStorageActivities,
  type DeletionHeartbeat,
  type StorageActivityDeps,
} from '../../../activities/storage-activities';
import type { DeletionReceipt, StorageProvider } from '../../../activities/storage-port';
import type { StorageActivities } from '../../../activities/types';
import { createLocalProvider } from '../../../adapters/storage/local-provider';
import { ClassifiedError, DELETION_REFUSED, deletionRefused, GardenerErrorCode } from '../../../domain';

const ENTRY = 'shoot--dev--demo--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';
const bucket = 'backups';
let root: string;

const keyOf = (i: number): string => `${ENTRY}/etcd-main/v2/Incr-${String(i).padStart(8, '0')}-1755684000.gz`;

function put(keys: string[]): void {
  for (const k of keys) {
    const p = join(root, bucket, ...k.split('/'));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, `data of ${k}`);
  }
}

function filesLeft(): number {
  const dir = join(root, bucket, ENTRY, 'etcd-main', 'v2');
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

function deps(overrides: Partial<StorageActivityDeps> = {}): StorageActivityDeps {
  return {
    readEntry: async () => ({ type: 'local', bucketName: bucket, secretData: {} }),
    providers: new Map<string, StorageProvider>([['local', createLocalProvider({ rootDir: root })]]),
    heartbeatIntervalMs: 0, // every progress report becomes a heartbeat, so the test sees them all
    ...overrides,
  };
}

/** An activity environment whose SDK logger stays quiet (failed activities are expected here). */
function mockEnv(info?: ConstructorParameters<typeof MockActivityEnvironment>[0]): MockActivityEnvironment {
  return new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
}

/** Runs deleteBackups for ENTRY in `env` (typed: `env.run` cannot infer the result of a method reference). */
function runDelete(env: MockActivityEnvironment, activities: StorageActivities): Promise<DeletionReceipt> {
  return env.run(activities.deleteBackups, ENTRY) as Promise<DeletionReceipt>;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bel-act-'));
  mkdirSync(join(root, bucket));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('storage activities', () => {
  describe('the deletion guard (verifyDeletionAllowed) on the real local provider', () => {
    const refuse = (): never => {
      throw deletionRefused({ reason: 'PrefixOwnedByLiveEntry', message: 'source-X lives in the same bucket' });
    };

    it('refused before the first DELETE: nothing is listed, counted or deleted, and no retry follows', async () => {
      put(Array.from({ length: 5 }, (_, i) => keyOf(i)));
      const readEntry = jest.fn(async () => ({ type: 'local', bucketName: bucket, secretData: {} }));
      const activities = createStorageActivities(deps({ readEntry, verifyDeletionAllowed: async () => refuse() }));
      const err = await runDelete(mockEnv(), activities).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ nonRetryable: true, details: [{ reason: DELETION_REFUSED }] });
      expect((err as Error).message).toMatch(/deletion refused \(PrefixOwnedByLiveEntry\)/);
      expect(readEntry).not.toHaveBeenCalled();
      expect(filesLeft()).toBe(5);
    });

    it('asked again before each batch: a refusal between batches stops the deletion before the next one', async () => {
      // Two folders = two batches of the local provider.
      const other = (i: number): string => `${ENTRY}/etcd-events/v2/Incr-${String(i).padStart(8, '0')}-1.gz`;
      put([...Array.from({ length: 3 }, (_, i) => keyOf(i)), ...Array.from({ length: 3 }, (_, i) => other(i))]);
      let calls = 0;
      const verifyDeletionAllowed = jest.fn(async () => {
        calls += 1;
        if (calls > 2) refuse(); // before the first DELETE and the first batch: allowed; then the entry came back
      });
      const activities = createStorageActivities(deps({ verifyDeletionAllowed }));
      const err = await runDelete(mockEnv(), activities).catch((e: unknown) => e);
      expect(err).toMatchObject({ nonRetryable: true, details: [{ reason: DELETION_REFUSED }] });
      expect(verifyDeletionAllowed).toHaveBeenCalledTimes(3);
      const left = ['etcd-main', 'etcd-events'].map((f) =>
        existsSync(join(root, bucket, ENTRY, f, 'v2')) ? readdirSync(join(root, bucket, ENTRY, f, 'v2')).length : 0,
      );
      expect(left.sort()).toEqual([0, 3]); // one batch deleted, the other untouched
    });
  });

  it('deleteBackups heartbeats cursor + counts and returns a receipt', async () => {
    put(Array.from({ length: 20 }, (_, i) => keyOf(i)));
    put([`${ENTRY}2/etcd-main/v2/Full-00000000-00000001-1755684000.gz`]);
    let t = 1_000_000;
    const activities = createStorageActivities(deps({ now: () => (t += 100) }));
    const env = mockEnv();
    const beats: DeletionHeartbeat[] = [];
    env.on('heartbeat', (d: DeletionHeartbeat) => beats.push(d));
    const receipt = await runDelete(env, activities);
    expect(receipt).toMatchObject({
      deletedObjects: 20,
      listedObjects: 20,
      lockedObjects: 0,
      rewrittenObjects: 0,
      remainingObjects: 0,
      cursor: keyOf(19),
    });
    expect(receipt.deletedBytes).toBeGreaterThan(0);
    expect(receipt.durationMs).toBeGreaterThan(0);
    expect(receipt.objectsPerSecond).toBeGreaterThan(0);
    expect(beats.length).toBeGreaterThanOrEqual(20);
    for (const b of beats) {
      expect(Object.keys(b).sort()).toEqual(
        expect.arrayContaining([
          'startedAtMs',
          'deletedObjects',
          'deletedBytes',
          'lockedObjects',
          'rewrittenObjects',
          'listedObjects',
        ]),
      );
      expect(JSON.stringify(b).length).toBeLessThan(600); // small details
    }
    expect(new Set(beats.map((b) => b.startedAtMs)).size).toBe(1);
    expect(beats.filter((b) => b.cursor === keyOf(9)).at(-1)?.deletedObjects).toBe(10);
    expect(existsSync(join(root, bucket, `${ENTRY}2`))).toBe(true);
  });

  it('a cancelled attempt stops promptly; the next attempt resumes from its last heartbeat', async () => {
    put(Array.from({ length: 60 }, (_, i) => keyOf(i)));
    const activities = createStorageActivities(deps());
    const env = mockEnv();
    let last: DeletionHeartbeat | undefined;
    env.on('heartbeat', (d: DeletionHeartbeat) => {
      last = d;
      if (d.deletedObjects === 15) env.cancel();
    });
    const err = await runDelete(env, activities).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(last?.deletedObjects).toBe(15);
    expect(filesLeft()).toBe(45); // nothing deleted after the cancellation
    // Retry: a fresh attempt whose activity info carries the last heartbeat.
    const env2 = mockEnv({ heartbeatDetails: last, attempt: 2 });
    const cursors: Array<string | undefined> = [];
    env2.on('heartbeat', (d: DeletionHeartbeat) => cursors.push(d.cursor));
    const receipt = await runDelete(env2, activities);
    expect(receipt).toMatchObject({ deletedObjects: 60, listedObjects: 60, remainingObjects: 0 });
    expect(cursors.every((c) => c !== undefined && c > keyOf(14))).toBe(true); // earlier keys were not listed again
    expect(filesLeft()).toBe(0);
  });

  it('after a crash, the resumed receipt still counts what was deleted after the last heartbeat', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => keyOf(i));
    put(keys);
    const sizeOf = (k: string): number => `data of ${k}`.length;
    const total = keys.reduce((n, k) => n + sizeOf(k), 0);
    const activities = createStorageActivities(deps());
    // Attempt 1 deletes 20 objects, but the last heartbeat the server got says 10 (the SDK sends them throttled):
    // the worker dies right after, so attempt 2 resumes from that one.
    const env = mockEnv();
    let serverCopy: DeletionHeartbeat | undefined;
    env.on('heartbeat', (d: DeletionHeartbeat) => {
      if (d.deletedObjects === 10) serverCopy = d;
      if (d.deletedObjects === 20) env.cancel();
    });
    await runDelete(env, activities).catch(() => undefined);
    expect(filesLeft()).toBe(10);
    expect(serverCopy).toMatchObject({ cursor: keyOf(9), deletedObjects: 10 });

    const receipt = await runDelete(mockEnv({ heartbeatDetails: serverCopy, attempt: 2 }), activities);
    // Counted one by one: 10 before the heartbeat + the 10 attempt 2 deleted; keyOf(10..19) were gone on re-listing.
    expect(receipt).toMatchObject({
      deletedObjects: 30,
      deletedBytes: total,
      remainingObjects: 0,
      inventoried: { objects: 30, bytes: total },
      uncountedAfterResume: { objects: 10, bytes: keys.slice(10, 20).reduce((n, k) => n + sizeOf(k), 0) },
    });
    expect(filesLeft()).toBe(0);
  });

  it('a first attempt takes the inventory before deleting and counts every object itself', async () => {
    put(Array.from({ length: 5 }, (_, i) => keyOf(i)));
    const activities = createStorageActivities(deps());
    const env = mockEnv();
    const beats: DeletionHeartbeat[] = [];
    env.on('heartbeat', (d: DeletionHeartbeat) => beats.push(d));
    const receipt = await runDelete(env, activities);
    expect(receipt).toMatchObject({ deletedObjects: 5, inventoried: { objects: 5 } });
    expect(receipt.uncountedAfterResume).toBeUndefined();
    // Every heartbeat from the first deletion on carries the inventory.
    const firstDeletion = beats.findIndex((b) => b.deletedObjects > 0);
    expect(beats.slice(firstDeletion).every((b) => b.inventoried?.objects === 5)).toBe(true);
  });

  it('uses the start time of the first attempt for the receipt', async () => {
    put([keyOf(1)]);
    const activities = createStorageActivities(deps({ now: () => 50_000 }));
    const details: DeletionHeartbeat = {
      startedAtMs: 40_000,
      deletedObjects: 0,
      deletedBytes: 0,
      lockedObjects: 0,
      rewrittenObjects: 0,
      listedObjects: 0,
    };
    const receipt = await runDelete(mockEnv({ heartbeatDetails: details }), activities);
    expect(receipt.durationMs).toBe(10_000);
    expect(receipt.objectsPerSecond).toBe(0.1);
  });

  it('objects left behind the cursor fail the attempt retryably and reset the cursor', async () => {
    put([keyOf(1), keyOf(2), keyOf(3)]);
    const activities = createStorageActivities(deps());
    // An earlier attempt claims everything up to keyOf(2) is done, yet keyOf(1) exists (written meanwhile).
    const stale: DeletionHeartbeat = {
      startedAtMs: 1,
      cursor: keyOf(2),
      deletedObjects: 2,
      deletedBytes: 0,
      lockedObjects: 0,
      rewrittenObjects: 0,
      listedObjects: 2,
    };
    const env = mockEnv({ heartbeatDetails: stale });
    let last: DeletionHeartbeat | undefined;
    env.on('heartbeat', (d: DeletionHeartbeat) => {
      last = d;
    });
    const err = await runDelete(env, activities).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'ERR_RETRYABLE_INFRA_DEPENDENCIES', nonRetryable: false });
    expect(last?.cursor).toBeUndefined();
    const receipt = await runDelete(mockEnv({ heartbeatDetails: last }), activities);
    expect(receipt.remainingObjects).toBe(0);
    expect(filesLeft()).toBe(0);
  });

  it('rejects an invalid entry name before reading the entry or calling a provider', async () => {
    const readEntry = jest.fn(async () => ({ type: 'local', bucketName: bucket, secretData: {} }));
    const open = jest.fn();
    const provider: StorageProvider = { type: 'local', etcdSecretExtras: () => ({}), open };
    const activities = createStorageActivities(deps({ readEntry, providers: new Map([['local', provider]]) }));
    for (const bad of ['', '../etc', 'a/b', 'source-', 'Shoot--x--1', 'no-uid-token']) {
      for (const fn of [activities.deleteBackups, activities.inventoryBackups]) {
        const err = await mockEnv()
          .run(fn, bad)
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect(err).toMatchObject({ type: 'ERR_CONFIGURATION_PROBLEM', nonRetryable: true });
      }
    }
    expect(readEntry).not.toHaveBeenCalled();
    expect(open).not.toHaveBeenCalled();
  });

  it('an unknown storage type is a non-retryable configuration error', async () => {
    const activities = createStorageActivities(
      deps({
        readEntry: async () => ({ type: 'aws', bucketName: bucket, secretData: {} }),
      }),
    );
    const err = await runDelete(mockEnv(), activities).catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'ERR_CONFIGURATION_PROBLEM',
      nonRetryable: true,
      message: expect.stringContaining('"aws"'),
    });
  });

  it('a missing bucket is a non-retryable configuration error naming it', async () => {
    const activities = createStorageActivities(
      deps({
        readEntry: async () => ({ type: 'local', bucketName: 'gone', secretData: {} }),
      }),
    );
    const err = await runDelete(mockEnv(), activities).catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'ERR_CONFIGURATION_PROBLEM',
      nonRetryable: true,
      message: expect.stringMatching(/^deleting backups of shoot--dev--demo--.*"gone"/),
    });
  });

  it('inventoryBackups counts objects and bytes under the prefix (source- entries share it)', async () => {
    put([keyOf(1), keyOf(2), `${ENTRY}-x/etcd-main/v2/Full-00000000-00000001-1755684000.gz`]);
    const activities = createStorageActivities(deps());
    const bytes = `data of ${keyOf(1)}`.length * 2;
    expect(await mockEnv().run(activities.inventoryBackups, ENTRY)).toEqual({ objects: 2, bytes, truncated: false });
    expect(await mockEnv().run(activities.inventoryBackups, `source-${ENTRY}`)).toEqual({
      objects: 2,
      bytes,
      truncated: false,
    });
  });
});

describe('credentials at the deadline: the current ones first, the pinned copies when refused', () => {
  /** The real local provider behind a door that refuses credentials whose `key` is not `good`, as a store answers 403. */
  function guarded(opened: string[]): StorageProvider {
    const local = createLocalProvider({ rootDir: root });
    return {
      ...local,
      open: (b, data, use) => {
        const key = data.key?.toString() ?? '(none)';
        opened.push(key);
        const session = local.open(b, data, use) as Awaited<ReturnType<StorageProvider['open']>>;
        if (key === 'good') return session;
        const refuse = async (): Promise<never> => {
          throw new ClassifiedError(
            `bucket ${b}: HTTP 403 Forbidden`,
            GardenerErrorCode.InfraUnauthorized,
            'Forbidden',
          );
        };
        // The real session (a class instance: its methods live on the prototype) with every store call refused.
        return Object.assign(Object.create(session) as typeof session, {
          inventory: refuse,
          deletePrefix: refuse,
          remaining: refuse,
        });
      },
    };
  }
  const creds = (key: string, source: string) => ({ secretData: { key: Buffer.from(key) }, source });

  it('the bucket secret is refused: the anchor copy deletes the prefix, and only the prefix', async () => {
    put(Array.from({ length: 3 }, (_, i) => keyOf(i)));
    put(['other-entry/etcd-main/v2/Full-1.gz']);
    const opened: string[] = [];
    const activities = createStorageActivities(
      deps({
        providers: new Map([['local', guarded(opened)]]),
        readEntry: async () => ({
          type: 'local',
          bucketName: bucket,
          ...creds('rotated-away', 'secret garden/bucket-x of BackupBucket x'),
          fallbacks: [creds('good', 'the copy on retention anchor garden/backupentry-retention-x')],
        }),
      }),
    );
    const receipt = await runDelete(mockEnv(), activities);
    expect(opened).toEqual(['rotated-away', 'good']);
    expect(receipt.deletedObjects).toBe(3);
    expect(filesLeft()).toBe(0);
    expect(existsSync(join(root, bucket, 'other-entry', 'etcd-main', 'v2', 'Full-1.gz'))).toBe(true);
  });

  it('the first credentials work: the copies are never opened', async () => {
    put([keyOf(1)]);
    const opened: string[] = [];
    const activities = createStorageActivities(
      deps({
        providers: new Map([['local', guarded(opened)]]),
        readEntry: async () => ({
          type: 'local',
          bucketName: bucket,
          ...creds('good', 'bucket'),
          fallbacks: [creds('never', 'anchor')],
        }),
      }),
    );
    await runDelete(mockEnv(), activities);
    expect(opened).toEqual(['good']);
  });

  it('every one refused: NoUsableCredentials names each source and keeps every object', async () => {
    put([keyOf(1), keyOf(2)]);
    const activities = createStorageActivities(
      deps({
        providers: new Map([['local', guarded([])]]),
        readEntry: async () => ({
          type: 'local',
          bucketName: bucket,
          ...creds('old', 'secret garden/bucket-x of BackupBucket x'),
          fallbacks: [creds('older', 'the copy on retention anchor garden/backupentry-retention-x')],
        }),
      }),
    );
    const err = (await runDelete(mockEnv(), activities).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe(GardenerErrorCode.InfraUnauthorized);
    expect(err.details).toEqual([expect.objectContaining({ reason: 'NoUsableCredentials' })]);
    expect(err.message).toMatch(/every credential for bucket backups was refused/);
    expect(err.message).toMatch(/secret garden\/bucket-x of BackupBucket x: .*403/);
    expect(err.message).toMatch(/retention anchor garden\/backupentry-retention-x: .*403/);
    expect(filesLeft()).toBe(2);
  });

  it('a refusal with no fallback stays the store’s own error', async () => {
    put([keyOf(1)]);
    const activities = createStorageActivities(
      deps({
        providers: new Map([['local', guarded([])]]),
        readEntry: async () => ({ type: 'local', bucketName: bucket, ...creds('bad', 'bucket') }),
      }),
    );
    const err = (await runDelete(mockEnv(), activities).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.details).toEqual([expect.objectContaining({ reason: 'Forbidden' })]);
    expect(filesLeft()).toBe(1);
  });
});
