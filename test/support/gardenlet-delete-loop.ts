/**
 * gardenlet's BackupEntry delete loop, played against the test API server so that its cost can be counted
 * (`pkg/gardenlet/controller/backupentry/reconciler.go` deleteBackupEntry, after the deletion grace period). One round:
 *   garden: status of the core BackupEntry set to "deletion in progress" (updateBackupEntryStatusOperationStart);
 *   seed:   the extension secret `entry-<name>` created or updated from the garden secret (reconcileBackupEntryExtensionSecret,
 *           here: read + a timestamp-annotation patch), the extension object annotated with the deletion confirmation and
 *           deleted (component.Destroy), and read back; while it still exists: requeue after 5 s
 *           (RequeueDurationWhenResourceDeletionStillPresent). Once it is gone: the extension secret is deleted, the core
 *           status set to Succeeded and gardenlet's finalizer removed (3 more requests), and the loop ends.
 * The garden cluster is stood in for by a ConfigMap on the same API server (one write per round, as gardenlet's status
 * patch). Every request this module makes is counted; the watcher and the workflow on the other side are not.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { BACKUPENTRY_API } from '../../domain';

const G = { group: BACKUPENTRY_API.group, version: BACKUPENTRY_API.version, plural: BACKUPENTRY_API.plural };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** gardenlet's requeue while the extension object still exists. */
export const GARDENLET_REQUEUE_MS = 5_000;

/** What a played loop cost. */
export interface DeleteLoopCost {
  rounds: number;
  /** Requests to the seed's API server (the extension side). */
  seedRequests: number;
  /** Writes to the garden cluster (core BackupEntry status and finalizer). */
  gardenWrites: number;
  /** The extension object disappeared and gardenlet finished. */
  finished: boolean;
  /** Per hour, at gardenlet's real 5 s requeue, while the extension object is held. */
  perHourWhileHeld: { seedRequests: number; gardenWrites: number };
}

/**
 * Plays gardenlet's delete loop for extension BackupEntry `name` (already deleted) with secret `garden/<secretName>`,
 * `requeueMs` apart (shorter than 5 s to keep a test short; the per-hour figures are scaled to 5 s), for at most
 * `maxRounds` rounds or until the extension object is gone.
 */
export async function playGardenletDeleteLoop(
  kc: KubeConfig,
  opts: {
    name: string;
    secretNamespace: string;
    secretName: string;
    requeueMs: number;
    maxRounds: number;
    gardenNamespace: string;
  },
): Promise<DeleteLoopCost> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let seedRequests = 0;
  let gardenWrites = 0;
  const stand = `core-backupentry-${opts.name.slice(-36)}`;
  await core.createNamespace({ body: { metadata: { name: opts.gardenNamespace } } }).catch(() => undefined);
  await core
    .createNamespacedConfigMap({
      namespace: opts.gardenNamespace,
      body: { metadata: { name: stand }, data: { state: 'Pending' } },
    })
    .catch(() => undefined);
  const gardenStatus = async (state: string): Promise<void> => {
    gardenWrites += 1;
    await core.patchNamespacedConfigMap(
      { namespace: opts.gardenNamespace, name: stand, body: { data: { state, at: new Date().toISOString() } } },
      MERGE,
    );
  };
  const missing = (e: unknown): boolean => (e as { code?: number }).code === 404;
  let rounds = 0;
  let finished = false;
  /** Requests of the rounds that found the extension object still there (the cost of holding it). */
  const held = { rounds: 0, seed: 0, garden: 0 };
  while (rounds < opts.maxRounds) {
    rounds += 1;
    const before = { seed: seedRequests, garden: gardenWrites };
    await gardenStatus('Processing');
    seedRequests += 1;
    const secret = await core
      .readNamespacedSecret({ namespace: opts.secretNamespace, name: opts.secretName })
      .catch((e: unknown) => {
        if (missing(e)) return undefined;
        throw e;
      });
    if (secret) {
      seedRequests += 1;
      await core
        .patchNamespacedSecret(
          {
            namespace: opts.secretNamespace,
            name: opts.secretName,
            body: { metadata: { annotations: { 'gardener.cloud/timestamp': new Date().toISOString() } } },
          },
          MERGE,
        )
        .catch(() => undefined);
    }
    seedRequests += 2;
    await custom
      .patchClusterCustomObject(
        {
          ...G,
          name: opts.name,
          body: { metadata: { annotations: { 'confirmation.gardener.cloud/deletion': 'true' } } },
        },
        MERGE,
      )
      .catch((e: unknown) => {
        if (!missing(e)) throw e;
      });
    await custom.deleteClusterCustomObject({ ...G, name: opts.name }).catch((e: unknown) => {
      if (!missing(e)) throw e;
    });
    seedRequests += 1;
    const still = await custom.getClusterCustomObject({ ...G, name: opts.name }).then(
      () => true,
      (e: unknown) => {
        if (missing(e)) return false;
        throw e;
      },
    );
    if (!still) {
      seedRequests += 1;
      await core
        .deleteNamespacedSecret({ namespace: opts.secretNamespace, name: opts.secretName })
        .catch(() => undefined);
      await gardenStatus('Succeeded');
      gardenWrites += 1; // gardenlet's finalizer on the core object removed
      finished = true;
      break;
    }
    held.rounds += 1;
    held.seed += seedRequests - before.seed;
    held.garden += gardenWrites - before.garden;
    await new Promise((r) => setTimeout(r, opts.requeueMs)); // gardenlet's requeue interval: time is the subject here
  }
  const roundsPerHour = 3_600_000 / GARDENLET_REQUEUE_MS;
  const perHour = (n: number): number => (held.rounds ? Math.round((n / held.rounds) * roundsPerHour) : 0);
  return {
    rounds,
    seedRequests,
    gardenWrites,
    finished,
    perHourWhileHeld: { seedRequests: perHour(held.seed), gardenWrites: perHour(held.garden) },
  };
}
