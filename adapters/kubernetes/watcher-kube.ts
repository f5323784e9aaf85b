/**
 * The watcher's Kubernetes access: the only way starter/ reaches `@kubernetes/client-node`. It hands out the
 * controller-runtime pieces of this folder (the BackupEntry informer, the secret informers, the Lease elector) built on
 * one kube config whose connections are kept alive (connection-reuse.ts), and the two reads the watcher makes itself.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { BACKUPENTRY_API } from '../../domain';
import { reuseConnections } from './connection-reuse';
import { LeaderElector, type LeaderElectionOptions } from './leader-election';
import { Reflector, type ReflectorOptions } from './list-watch';
import { SecretWatch, type SecretWatchOptions } from './secret-watch';

export type { KubeConfig } from '@kubernetes/client-node';

const ENTRY_PATH = `/apis/${BACKUPENTRY_API.group}/${BACKUPENTRY_API.version}/${BACKUPENTRY_API.plural}`;

/** Options of {@link WatcherKube.backupEntryInformer}: a {@link Reflector}'s, less what the collection fixes. */
export type EntryInformerOptions<T> = Omit<ReflectorOptions<T>, 'name' | 'kubeConfig' | 'path' | 'list'>;

/** The kube config of the environment (in-cluster service account, else `KUBECONFIG` or `~/.kube/config`). */
export function loadDefaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The HTTP status of a client-node API error, if it carries one. */
function apiCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

/** Everything the watcher does with the API server, on one kube config. */
export class WatcherKube {
  /** The kube config, patched to keep connections alive. */
  readonly kubeConfig: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  /** Wraps `kubeConfig` (made to reuse connections, see connection-reuse.ts). */
  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = reuseConnections(kubeConfig);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** A list+watch loop on all BackupEntries (cluster-scoped), named `backupentries`; not started. */
  backupEntryInformer<T>(opts: EntryInformerOptions<T>): Reflector<T> {
    const { group, version, plural } = BACKUPENTRY_API;
    return new Reflector<T>({
      ...opts,
      name: 'backupentries',
      kubeConfig: this.kubeConfig,
      path: ENTRY_PATH,
      list: async ({ limit, continueToken }) =>
        (await this.custom.listClusterCustomObject({
          group,
          version,
          plural,
          limit,
          ...(continueToken ? { _continue: continueToken } : {}),
        })) as never,
    });
  }

  /** The per-namespace secret informers (secret-watch.ts); none runs until `setNamespaces`. */
  secretWatch(opts: Omit<SecretWatchOptions, 'kubeConfig'>): SecretWatch {
    return new SecretWatch({ ...opts, kubeConfig: this.kubeConfig });
  }

  /** A candidate for the Lease (leader-election.ts); not started. */
  leaderElector(opts: Omit<LeaderElectionOptions, 'kubeConfig'>): LeaderElector {
    return new LeaderElector({ ...opts, kubeConfig: this.kubeConfig });
  }

  /** A secret's data as the API returns it (base64 values by key); undefined when the secret does not exist. */
  async readSecretData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.core.readNamespacedSecret({ namespace, name })).data ?? {};
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** A BackupEntry's finalizers as stored now; undefined when the entry does not exist. */
  async readBackupEntryFinalizers(name: string): Promise<string[] | undefined> {
    const { group, version, plural } = BACKUPENTRY_API;
    try {
      const o = (await this.custom.getClusterCustomObject({ group, version, plural, name })) as {
        metadata?: { finalizers?: string[] };
      };
      return o.metadata?.finalizers ?? [];
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw err;
    }
  }
}
