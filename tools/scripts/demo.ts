import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Storage } from '@google-cloud/storage';
import { BACKUPENTRY_API } from '../../domain';

/** One demo BackupEntry the dev stack creates. */
export interface DemoEntry {
  name: string;
  namespace: string;
  type: 'local' | 'gcp';
  bucket: string;
  objects: number;
}

/** Options of {@link seedDemo}. */
export interface DemoOptions {
  kc: KubeConfig;
  /** Root of the local provider (one folder per bucket). */
  localDir: string;
  /** fake-gcs-server endpoint: also create a `gcp` entry with objects there. */
  gcsEndpoint?: string;
}

const UID = (): string =>
  `${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}-4${randomBytes(2).toString('hex').slice(1)}-8${randomBytes(2).toString('hex').slice(1)}-${randomBytes(6).toString('hex')}`;

/** Realistic etcd-backup-restore keys under an entry's prefix: full and delta snapshots and leftover chunk parts. */
export function etcdBackupKeys(entry: string, days = 3): string[] {
  const keys: string[] = [];
  let rev = 0;
  const t0 = 1_764_000_000;
  for (let d = 0; d < days; d += 1) {
    const ts = t0 + d * 86_400;
    keys.push(`${entry}/etcd-main/v2/Full-00000000-${String(rev + 5000).padStart(8, '0')}-${ts}.gz`);
    for (let i = 0; i < 6; i += 1) {
      const from = rev + 5000 + i * 40 + 1;
      keys.push(
        `${entry}/etcd-main/v2/Incr-${String(from).padStart(8, '0')}-${String(from + 39).padStart(8, '0')}-${ts + (i + 1) * 300}.gz`,
      );
    }
    rev += 5240;
  }
  keys.push(
    `${entry}/etcd-main/v2/Full-00000000-${String(rev + 10).padStart(8, '0')}-${t0 + days * 86_400}.gz/0000000001`,
  );
  keys.push(
    `${entry}/etcd-main/v2/Full-00000000-${String(rev + 10).padStart(8, '0')}-${t0 + days * 86_400}.gz/0000000002`,
  );
  return keys;
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  await p.catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}

/**
 * Creates the demo world: namespace `garden`, shoot namespaces, provider secrets `garden/entry-<name>` (fake values),
 * buckets with realistic backup objects, and the BackupEntries themselves (`local`, plus `gcp` on fake-gcs-server).
 */
export async function seedDemo(opts: DemoOptions): Promise<DemoEntry[]> {
  const core = opts.kc.makeApiClient(CoreV1Api);
  const custom = opts.kc.makeApiClient(CustomObjectsApi);
  await ignoreConflict(core.createNamespace({ body: { metadata: { name: 'garden' } } }));
  const entries: DemoEntry[] = [
    {
      name: `shoot--demo--alpha--${UID()}`,
      namespace: 'shoot--demo--alpha',
      type: 'local',
      bucket: 'seed-bucket-local',
      objects: 0,
    },
    {
      name: `shoot--demo--beta--${UID()}`,
      namespace: 'shoot--demo--beta',
      type: 'local',
      bucket: 'seed-bucket-local',
      objects: 0,
    },
  ];
  if (opts.gcsEndpoint)
    entries.push({
      name: `shoot--demo--gamma--${UID()}`,
      namespace: 'shoot--demo--gamma',
      type: 'gcp',
      bucket: 'seed-bucket-gcs',
      objects: 0,
    });
  const storage = opts.gcsEndpoint ? new Storage({ apiEndpoint: opts.gcsEndpoint, projectId: 'demo' }) : undefined;
  for (const e of entries) {
    const keys = etcdBackupKeys(e.name);
    e.objects = keys.length;
    if (e.type === 'local') {
      for (const k of keys) {
        const file = join(opts.localDir, e.bucket, k);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, randomBytes(2048));
      }
    } else if (storage) {
      const bucket = storage.bucket(e.bucket);
      const [exists] = await bucket.exists();
      if (!exists) await storage.createBucket(e.bucket);
      await Promise.all(keys.map((k) => bucket.file(k).save(randomBytes(2048))));
    }
    await ignoreConflict(core.createNamespace({ body: { metadata: { name: e.namespace } } }));
    await ignoreConflict(
      core.createNamespacedSecret({
        namespace: 'garden',
        body: {
          metadata: { name: `entry-${e.name}` },
          stringData:
            e.type === 'gcp'
              ? { 'serviceaccount.json': demoServiceAccount() }
              : { note: 'local provider needs no credentials' },
        },
      }),
    );
    await ignoreConflict(
      custom.createClusterCustomObject({
        group: BACKUPENTRY_API.group,
        version: BACKUPENTRY_API.version,
        plural: BACKUPENTRY_API.plural,
        body: {
          apiVersion: BACKUPENTRY_API.apiVersion,
          kind: BACKUPENTRY_API.kind,
          metadata: { name: e.name, annotations: { 'gardener.cloud/operation': 'reconcile' } },
          spec: {
            type: e.type,
            region: 'local',
            bucketName: e.bucket,
            secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
          },
        },
      }),
    );
  }
  return entries;
}

/** A syntactically complete service-account JSON with a throw-away key (the emulator sends no auth). */
function demoServiceAccount(): string {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return JSON.stringify({
    type: 'service_account',
    project_id: 'demo',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: 'demo@demo.iam.gserviceaccount.com',
    client_id: '1',
    token_uri: 'https://oauth2.googleapis.com/token',
  });
}
