/**
 * The watcher's secret informers read metadata only (issue 23, item 5): as Gardener's backupentry controller does, the
 * list and the watch of the provider-secret namespace ask for PartialObjectMetadata, and the data of a secret is read
 * (by a list narrowed to its name) only while a served entry references it, once per resourceVersion. Checked on the
 * real kube-apiserver; what the list and the watch of client-node return is observed through call-through spies.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import pino from 'pino';
import { SecretWatch, type SecretChange, type SecretFacts } from '../../../adapters/kubernetes/secret-watch';
import { waitFor } from '../../../tools/stack/wait';
import { adminKubeConfig, uniqueName } from '../../support/env';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('secret informers: metadata only, data of referenced secrets only', () => {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const ns = uniqueName('garden-meta');
  const referenced = 'entry-referenced';
  const others = ['cloudprovider', 'ssh-keypair', 'entry-unserved'];
  const changes: Array<[string, SecretChange]> = [];
  const memory = new Map<string, SecretFacts>();
  let watch: SecretWatch;
  let lists: Array<{ fieldSelector?: string; dataInItems: boolean; items: number }>;
  let watchEvents: Array<{ type: string; kind: string; data: boolean }>;
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const name of [referenced, ...others]) {
      await core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name }, stringData: { key: `v-${name}` } },
      });
    }
    lists = [];
    watchEvents = [];
    const list = CoreV1Api.prototype.listNamespacedSecret;
    spies.push(
      jest.spyOn(CoreV1Api.prototype, 'listNamespacedSecret').mockImplementation(async function (
        this: CoreV1Api,
        ...args: Parameters<typeof list>
      ) {
        const out = await list.apply(this, args);
        if (args[0].namespace === ns) {
          lists.push({
            ...(args[0].fieldSelector ? { fieldSelector: args[0].fieldSelector } : {}),
            dataInItems: out.items.some((i) => i.data !== undefined),
            items: out.items.length,
          });
        }
        return out;
      }),
    );
    const watchFn = Watch.prototype.watch;
    spies.push(
      jest.spyOn(Watch.prototype, 'watch').mockImplementation(function (this: Watch, path, params, callback, done) {
        if (!path.includes(`/namespaces/${ns}/secrets`)) return watchFn.call(this, path, params, callback, done);
        return watchFn.call(
          this,
          path,
          params,
          (type, obj: { kind?: string; data?: unknown }, raw) => {
            watchEvents.push({ type, kind: obj?.kind ?? '?', data: obj?.data !== undefined });
            callback(type, obj, raw);
          },
          done,
        );
      }),
    );
    watch = new SecretWatch({
      kubeConfig: kc,
      memory,
      idleTimeoutMs: 60_000,
      watchTimeoutMs: 30_000,
      log: pino({ level: process.env.BEL_TEST_LOG_LEVEL ?? 'silent' }),
      isReferenced: (key) => key === `${ns}/${referenced}`,
      onChange: (key, change) => changes.push([key, change]),
    });
    watch.setNamespaces([ns]);
    await waitFor(
      async () => {
        if (watch.isInSync()) return true;
        throw new Error(JSON.stringify({ sync: watch.isInSync(), lists }));
      },
      { what: 'in sync', timeoutMs: 30_000 },
    );
  });

  afterAll(async () => {
    await watch?.stop();
    for (const s of spies) s.mockRestore();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('lists and watches metadata only, and reads the data of the referenced secret alone', () => {
    const full = lists.filter((l) => !l.fieldSelector);
    expect(full.length).toBeGreaterThan(0);
    expect(full.every((l) => !l.dataInItems && l.items === 1 + others.length)).toBe(true);
    expect(lists.filter((l) => l.fieldSelector).map((l) => l.fieldSelector)).toEqual([`metadata.name=${referenced}`]);
    expect(changes).toEqual([[`${ns}/${referenced}`, 'first-sight']]);
    expect([...memory.keys()]).toEqual([`${ns}/${referenced}`]);
  });

  it('a rotation of the referenced secret is seen; other secrets’ changes and metadata-only changes read nothing', async () => {
    const reads = (): number => lists.filter((l) => l.fieldSelector).length;
    const before = reads();
    await core.patchNamespacedSecret(
      { namespace: ns, name: others[0]!, body: { stringData: { key: 'changed' } } },
      MERGE,
    );
    await core.patchNamespacedSecret(
      { namespace: ns, name: referenced, body: { metadata: { annotations: { 'gardener.cloud/timestamp': 'now' } } } },
      MERGE,
    );
    // The annotation is a new resourceVersion: one read, the same digest, no change reported.
    await waitFor(async () => reads() === before + 1 && watch.isInSync(), { what: 'one read', timeoutMs: 30_000 });
    expect(changes).toHaveLength(1);
    await core.patchNamespacedSecret(
      { namespace: ns, name: referenced, body: { stringData: { key: 'rotated' } } },
      MERGE,
    );
    await waitFor(async () => changes.length === 2, { what: 'the rotation', timeoutMs: 30_000 });
    expect(changes[1]).toEqual([`${ns}/${referenced}`, 'rotated']);
    expect(lists.filter((l) => l.fieldSelector).every((l) => l.fieldSelector === `metadata.name=${referenced}`)).toBe(
      true,
    );
    // What the watch delivered: metadata only, for the secret that is not referenced too.
    expect(watchEvents.filter((e) => e.type === 'MODIFIED').length).toBeGreaterThanOrEqual(3);
    expect(watchEvents.filter((e) => e.type !== 'BOOKMARK')).toEqual(
      watchEvents
        .filter((e) => e.type !== 'BOOKMARK')
        .map((e) => ({ ...e, kind: 'PartialObjectMetadata', data: false })),
    );
  });
});

describe('secret informers: data reads are bounded', () => {
  // Unbounded, a relist of thousands of referenced secrets started every read at once (new TLS connections, the event
  // loop blocked, the Lease lost). The first list of 40 referenced secrets must be read at most 3 at a time — and all.
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const ns = uniqueName('garden-reads');
  const names = Array.from({ length: 40 }, (_, i) => `entry-${i}`);
  let inFlight = 0;
  let most = 0;
  let spy: jest.SpyInstance;
  let watch: SecretWatch | undefined;

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const name of names)
      await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: { key: name } } });
    const list = CoreV1Api.prototype.listNamespacedSecret;
    spy = jest.spyOn(CoreV1Api.prototype, 'listNamespacedSecret').mockImplementation(async function (
      this: CoreV1Api,
      ...args: Parameters<typeof list>
    ) {
      const counted = args[0].namespace === ns && args[0].fieldSelector !== undefined;
      if (counted) most = Math.max(most, ++inFlight);
      try {
        return await list.apply(this, args);
      } finally {
        if (counted) inFlight--;
      }
    });
  });

  afterAll(async () => {
    await watch?.stop();
    spy.mockRestore();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it('reads every referenced secret of a first list, never more than maxReadsInFlight at once', async () => {
    const seen = new Map<string, SecretChange>();
    const memory = new Map<string, SecretFacts>();
    watch = new SecretWatch({
      kubeConfig: kc,
      memory,
      maxReadsInFlight: 3,
      idleTimeoutMs: 60_000,
      watchTimeoutMs: 30_000,
      log: pino({ level: process.env.BEL_TEST_LOG_LEVEL ?? 'silent' }),
      onChange: (key, change) => seen.set(key, change),
    });
    watch.setNamespaces([ns]);
    await waitFor(() => watch!.isInSync() && seen.size === names.length, {
      what: 'every secret read',
      timeoutMs: 60_000,
    });
    expect(most).toBe(3);
    expect([...seen.keys()].sort()).toEqual(names.map((n) => `${ns}/${n}`).sort());
    expect(new Set(seen.values())).toEqual(new Set(['first-sight']));
    expect([...memory.keys()]).toHaveLength(names.length);
  });
});
