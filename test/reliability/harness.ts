/**
 * Shared helpers of the reliability tier: real BackupEntries and secrets on the stack's kube-apiserver, workflows
 * started directly (no watcher), objects in local and fake-gcs-server buckets, history decoding for leak scans.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { type Bucket, Storage } from '@google-cloud/storage';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { workflowIdFor } from '../../domain';
import { backupEntryWorkflow, type WorkflowSettings } from '../../workflows/backup-entry-workflow';
import { type StatusQueryResult, statusQuery } from '../../workflows/messages';
import { adminKubeConfig, stackEnv } from '../support/env';
import { waitFor } from '../../tools/stack';
import { annotateEntry, getEntry } from '../support/entries';

export const G = { group: 'extensions.gardener.cloud', version: 'v1alpha1', plural: 'backupentries' };
export const FINALIZER = 'extensions.gardener.cloud/backupentry';
export const ANN = {
  retention: 'backupentry.extensions.gardener.cloud/retention-period',
  keep: 'backupentry.extensions.gardener.cloud/keep-backups',
  force: 'backupentry.core.gardener.cloud/force-deletion',
};
/** Settings every workflow of the tier is started with: quick retries after errors. */
export const FAST: Partial<WorkflowSettings> = {
  defaultRetentionMs: 72 * 3600_000,
  initialRetryDelayMs: 500,
  maxRetryDelayMs: 2000,
};
/** Larger sizes (5k objects, 500 entries) run with BEL_RELIABILITY_FULL=1. */
export const FULL = process.env.BEL_RELIABILITY_FULL === '1';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const short = (): string => randomUUID().slice(0, 8);

/** Polls `fn` until it returns something other than undefined (errors count as "not yet"); `false` is a value here. */
export async function pollFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const boxed = await waitFor(
    async () => {
      const v = await fn();
      return v === undefined ? undefined : { v };
    },
    { what, timeoutMs, intervalMs },
  );
  return boxed.v;
}

/** A BackupEntry object as read from the API server (the parts tests look at). */
export interface EntryObject {
  metadata: {
    name: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    uid?: string;
  };
  spec: Record<string, unknown>;
  status?: {
    lastOperation?: { type: string; state: string; description: string; progress: number };
    lastError?: { description: string; codes?: string[] };
    observedGeneration?: number;
  };
}

/** Kubernetes access for a test file. */
export class Kube {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  /** On the stack's API server, or on the one `kc` points at. */
  constructor(readonly kc: KubeConfig = adminKubeConfig()) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async ensureNamespace(name: string): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  }

  /** Creates a secret with `data` (values as given, base64-encoded for the API). */
  async createSecret(namespace: string, name: string, data: Record<string, string | Buffer>): Promise<void> {
    const b64 = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    await this.core.createNamespacedSecret({ namespace, body: { metadata: { name }, data: b64 } });
  }

  async createEntry(
    name: string,
    spec: Record<string, unknown>,
    annotations: Record<string, string> = {},
  ): Promise<void> {
    await this.custom.createClusterCustomObject({
      ...G,
      body: {
        apiVersion: `${G.group}/${G.version}`,
        kind: 'BackupEntry',
        metadata: { name, ...(Object.keys(annotations).length ? { annotations } : {}) },
        spec,
      },
    });
  }

  async getEntry(name: string): Promise<EntryObject | undefined> {
    return getEntry<EntryObject>(this.custom, name);
  }

  async annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    await annotateEntry(this.custom, name, annotations);
  }

  async deleteEntry(name: string): Promise<void> {
    await this.custom.deleteClusterCustomObject({ ...G, name });
  }

  /** Removes every finalizer (cleanup after a suite; entries stuck on purpose must not linger). */
  async forceRemove(name: string): Promise<void> {
    await this.custom
      .patchClusterCustomObject(
        { ...G, name, body: { metadata: { finalizers: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
    await this.deleteEntry(name).catch(() => undefined);
  }

  /**
   * Polls until the entry's status is an Error write (state Error with lastError). A retry writes Processing and keeps
   * lastError, so lastError alone is not enough.
   */
  async untilErrorStatus(name: string): Promise<EntryObject | undefined> {
    return this.entryUntil(
      name,
      (x) => !!x?.status?.lastError && x.status.lastOperation?.state === 'Error',
      'Error status',
    );
  }

  /** Polls the entry until `check` holds. */
  async entryUntil(
    name: string,
    check: (e: EntryObject | undefined) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<EntryObject | undefined> {
    let last: EntryObject | undefined;
    try {
      return await pollFor(
        async () => {
          last = await this.getEntry(name);
          return check(last) ? { v: last } : undefined;
        },
        what,
        timeoutMs,
      ).then((x) => x.v);
    } catch (err) {
      throw new Error(`${(err as Error).message}; entry: ${JSON.stringify(last?.status ?? last)}`);
    }
  }
}

/** A Temporal client on the stack (or on `address`). */
export async function temporalClient(address = stackEnv('TEMPORAL_ADDRESS')): Promise<Client> {
  return new Client({ connection: await Connection.connect({ address }), namespace: stackEnv('TEMPORAL_NAMESPACE') });
}

/** Starts the BackupEntry workflow for `name` the way the watcher would (same ID scheme). */
export async function startEntryWorkflow(
  client: Client,
  taskQueue: string,
  cluster: string,
  name: string,
  settings: Partial<WorkflowSettings> = FAST,
): Promise<WorkflowHandle<typeof backupEntryWorkflow>> {
  const id = workflowIdFor(cluster, name);
  const workflowId = id.ok ? id.value : `backupentry/${cluster}/${name}`; // names the ID scheme refuses still get a workflow
  return client.workflow.start(backupEntryWorkflow, { taskQueue, workflowId, args: [{ entryName: name, settings }] });
}

/** Polls the workflow's status query until `check` holds. */
export async function statusUntil(
  h: WorkflowHandle,
  check: (v: StatusQueryResult) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<StatusQueryResult> {
  let last: StatusQueryResult | undefined;
  try {
    return await pollFor(
      async () => {
        last = await h.query(statusQuery);
        return check(last) ? last : undefined;
      },
      what,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`);
  }
}

/** A fresh shoot-like entry name `shoot--<label>--<8>--<uuid>` and its namespace. */
export function entryName(label: string): { name: string; ns: string } {
  const ns = `shoot--${label}--${short()}`;
  return { ns, name: `${ns}--${randomUUID()}` };
}

/** A syntactically complete service-account key with a fresh RSA key and a random marker (never a real key). */
export function serviceAccount(): { json: string; privateKey: string; marker: string; fields: Record<string, string> } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const marker = `sa-marker-${randomBytes(16).toString('hex')}`;
  const fields = {
    type: 'service_account',
    project_id: 'reliability',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: 'backup@reliability.iam.gserviceaccount.com',
    client_id: marker,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
  return { json: JSON.stringify(fields), privateKey, marker, fields };
}

/** Writes objects (files) of `bytes` random bytes under `<root>/<bucket>/`. */
export function putLocal(root: string, bucket: string, keys: readonly string[], bytes = 16): void {
  for (const key of keys) {
    const file = join(root, bucket, key);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(bytes));
  }
}

/** Every object key in a local bucket, sorted. */
export function listLocal(root: string, bucket: string): string[] {
  const dir = join(root, bucket);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

/** A Storage client on fake-gcs-server (no credentials: the emulator takes none). */
export function gcsClient(endpoint = stackEnv('GCS_API_ENDPOINT')): Storage {
  delete process.env.STORAGE_EMULATOR_HOST;
  return new Storage({ apiEndpoint: endpoint, projectId: 'reliability' });
}

export async function createGcsBucket(storage: Storage, name: string): Promise<Bucket> {
  const [bucket] = await storage.createBucket(name);
  return bucket;
}

/** Uploads `keys` with small contents, `parallel` at a time. */
export async function putGcs(bucket: Bucket, keys: readonly string[], parallel = 16): Promise<void> {
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
        await bucket.file(k).save(Buffer.from(`data of ${k}`), { resumable: false, validation: false });
      }
    }),
  );
}

/** Every object name in a GCS bucket, sorted. */
export async function listGcs(bucket: Bucket): Promise<string[]> {
  const [files] = await bucket.getFiles({});
  return files.map((f) => f.name).sort();
}

/**
 * The workflow's whole history as searchable text: every byte array (payloads, failure details) decoded as UTF-8
 * and, separately, the raw bytes as latin1, so a secret in any payload shows up (JSON.stringify alone would print
 * byte arrays as index maps and hide it).
 */
export async function historyText(h: WorkflowHandle): Promise<string> {
  const history = await h.fetchHistory();
  const parts: string[] = [];
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) {
      const b = Buffer.from(v);
      parts.push(b.toString('latin1'));
      return b.toString('utf8');
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  const decoded = JSON.stringify(walk(history));
  return `${decoded}\n${parts.join('\n')}`;
}

/** Needles of a secret value: the value, its base64 and (for PEM keys) every body line and its JSON-escaped form. */
export function needlesOf(value: string): string[] {
  const out = new Set<string>([value, Buffer.from(value).toString('base64'), JSON.stringify(value).slice(1, -1)]);
  for (const line of value.split('\n')) if (line.length >= 40 && !line.startsWith('-----')) out.add(line);
  return [...out].filter((n) => n.length >= 16);
}

/** Needles found in `text` (none expected). */
export function hits(text: string, needles: readonly string[]): string[] {
  return needles.filter((n) => text.includes(n)).map((n) => `${n.slice(0, 24)}…`);
}

/** Appends one measured result to `$BEL_RELIABILITY_REPORT` (default `<tmp>/bel-reliability-report.jsonl`) for docs/reliability.md. */
export function recordResult(testCase: string, data: Record<string, unknown>): void {
  const file = process.env.BEL_RELIABILITY_REPORT ?? join(tmpdir(), 'bel-reliability-report.jsonl');
  appendFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), case: testCase, full: FULL, ...data })}\n`);
}

/** Runs `fn` over `items` with at most `limit` at once (one implementation, shared with the benchmarks). */
export { mapLimit } from '../../tools/bench/live';
