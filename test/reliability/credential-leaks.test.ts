/**
 * Credential leaks (docs/design.md §6: "never a secret in a log line"; docs/reliability.md, case K1): the real watcher and worker
 * processes (log level trace) drive full lifecycles of entries whose provider secrets carry a service-account key —
 * a plain deletion, a 403 that is fixed, a malformed key file that is fixed, a rotation, kept backups, a `local`
 * token, a `gcp` workload-identity secret whose token is exchanged at a loopback token-exchange stand-in — and afterwards every workflow history (payloads decoded), every log line of both processes, the metrics
 * output of both (the worker's includes the Temporal runtime's), the entries' statuses and their Kubernetes Events
 * are searched for the secrets' bytes: the whole
 * values, their base64, every line of the private keys, the key IDs, a random marker, the workload-identity token,
 * the access token it was exchanged for and the audience of its config. Zero hits.
 */
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { workflowIdFor } from '../../domain';
import { reconcileSignal, statusQuery, type StatusQueryResult } from '../../workflows/messages';
import { freePort } from '../../tools/stack';
import { faults, on, startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { stackEnv } from '../support/env';
import { startStsStandIn, type StsStandIn } from '../support/sts-stand-in';
import { startWatcherProcess, startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import {
  ANN,
  Kube,
  createGcsBucket,
  entryName,
  gcsClient,
  historyText,
  hits,
  listGcs,
  listLocal,
  needlesOf,
  pollFor,
  putGcs,
  putLocal,
  recordResult,
  serviceAccount,
  short,
  statusUntil,
  temporalClient,
  type EntryObject,
} from './harness';

const kube = new Kube();
const storage = gcsClient();
const dir = mkdtempSync(join(tmpdir(), 'bel-rel-leak-'));
const localRoot = join(dir, 'local');
const taskQueue = `rel-leak-${short()}`;
const cluster = `rel-leak-${short()}`;
const cls = `rel-leak-${short()}`; // only this suite's watcher serves this class
const SA1 = serviceAccount();
const SA2 = serviceAccount();
const TOKEN = `local-token-${short()}${short()}${short()}`;
const MALFORMED = SA1.json.slice(0, SA1.json.indexOf('"client_email"')); // holds the whole private key, then breaks off
/** A workload-identity secret as gardenlet writes it (config + the token requestor's token). */
const WI_TOKEN = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(
  JSON.stringify({ sub: `wi-${short()}`, exp: Math.floor(Date.now() / 1000) + 7200 }),
).toString('base64url')}.${short()}${short()}${short()}`;
const WI_ACCESS = `ya29.leak-${short()}${short()}${short()}`;
const WI_AUDIENCE = `//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/leak-${short()}/providers/p`;
const WI_CONFIG = JSON.stringify({
  apiVersion: 'gcp.provider.extensions.gardener.cloud/v1alpha1',
  kind: 'WorkloadIdentityConfig',
  projectID: 'leak-proj',
  credentialsConfig: {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience: WI_AUDIENCE,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
  },
});
const WI_META = {
  labels: {
    'security.gardener.cloud/purpose': 'workload-identity-token-requestor',
    'workloadidentity.security.gardener.cloud/provider': 'gcp',
  },
  annotations: {
    'workloadidentity.security.gardener.cloud/name': 'backup',
    'workloadidentity.security.gardener.cloud/namespace': 'garden-leak',
  },
};
let sts: StsStandIn;
let proxy: FaultProxy;
let worker: WorkerProcess;
let watcher: WorkerProcess;
let client: Client;
let metricsPort: number;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  mkdirSync(join(localRoot, 'bucket-leak'), { recursive: true });
  proxy = await startFaultProxy(stackEnv('GCS_API_ENDPOINT'));
  sts = await startStsStandIn({ subjectToken: WI_TOKEN, audience: WI_AUDIENCE, accessToken: WI_ACCESS });
  metricsPort = await freePort();
  const env = {
    BEL_TASK_QUEUE: taskQueue,
    BEL_CLUSTER_IDENTITY: cluster,
    BEL_PROVIDER_TYPES: 'gcp,local',
    BEL_CLASSES: cls,
    BACKUP_LOCAL_DIR: localRoot,
    GCS_API_ENDPOINT: proxy.endpoint,
    BEL_GCP_STS_ENDPOINT: sts.stsEndpoint,
    BEL_LOG_LEVEL: 'trace',
    BEL_WATCHER_LEASE_NAME: `rel-leak-${short()}`,
    BEL_WATCHER_HTTP_PORT: String(metricsPort),
  };
  worker = await startWorkerProcess({ env, logFile: join(dir, 'worker.log') });
  watcher = await startWatcherProcess({ env, logFile: join(dir, 'watcher.log') });
  client = await temporalClient();
  await kube.ensureNamespace('garden');
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await watcher?.stop();
  await worker?.stop();
  await client?.connection.close();
  await proxy?.stop();
  await sts?.stop();
});

interface Entry {
  name: string;
  ns: string;
  bucket: string;
  h: WorkflowHandle;
}

/** An entry served by this suite's watcher; resolves once its workflow (started by the watcher) reports `phase`. */
async function entry(
  label: string,
  type: 'gcp' | 'local',
  secret: Record<string, string>,
  phase = 'Ready',
  meta?: { labels: Record<string, string>; annotations: Record<string, string> },
): Promise<Entry> {
  const e = entryName(label);
  let bucket = 'bucket-leak';
  if (type === 'gcp') {
    const b = await createGcsBucket(storage, `rel-leak-${short()}`);
    await putGcs(b, [
      `${e.name}/etcd-main/v2/Full-1.gz`,
      `${e.name}/etcd-main/v2/Incr-2.gz`,
      `${e.name}2/etcd-main/v2/Full-1.gz`,
    ]);
    bucket = b.name;
  } else {
    putLocal(localRoot, bucket, [`${e.name}/etcd-main/v2/Full-1.gz`, `${e.name}2/etcd-main/v2/Full-1.gz`]);
  }
  await kube.ensureNamespace(e.ns);
  if (meta) {
    await kube.core.createNamespacedSecret({
      namespace: 'garden',
      body: {
        metadata: { name: `entry-${e.name}`, ...meta },
        data: Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      },
    });
  } else {
    await kube.createSecret('garden', `entry-${e.name}`, secret);
  }
  await kube.createEntry(e.name, {
    type,
    class: cls,
    region: 'r',
    bucketName: bucket,
    secretRef: { name: `entry-${e.name}`, namespace: 'garden' },
  });
  cleanups.push(() => kube.forceRemove(e.name));
  const id = workflowIdFor(cluster, e.name);
  if (!id.ok) throw new Error(id.error.message);
  const h = client.workflow.getHandle(id.value);
  await statusUntil(h, (v) => v.phase === phase, `${label} ${phase} (workflow started by the watcher)`, 90_000);
  return { ...e, bucket, h };
}

test('K1: no secret byte in any workflow history, log line, metric, status or Event after full lifecycles', async () => {
  const snapshots: Array<EntryObject | StatusQueryResult | undefined> = [];
  const [plain, forbidden, malformed, rotated, kept, local, wi] = await Promise.all([
    entry('leak-plain', 'gcp', { 'serviceaccount.json': SA1.json }),
    entry('leak-403', 'gcp', { 'serviceaccount.json': SA1.json }),
    entry('leak-malformed', 'gcp', { 'serviceaccount.json': MALFORMED }, 'Error'),
    entry('leak-rotated', 'gcp', { 'serviceaccount.json': SA1.json }),
    entry('leak-kept', 'gcp', { 'serviceaccount.json': SA1.json }),
    entry('leak-local', 'local', { token: TOKEN }),
    entry('leak-wi', 'gcp', { config: WI_CONFIG, token: WI_TOKEN }, 'Ready', WI_META),
  ]);
  const etcdWi = await kube.core.readNamespacedSecret({ name: 'etcd-backup', namespace: wi.ns });
  expect(Buffer.from(etcdWi.data!.config!, 'base64').toString()).toContain(WI_AUDIENCE); // where the config must be
  snapshots.push(await kube.getEntry(malformed.name));
  // Fix the malformed key file and rotate another entry's key: the watcher notices both secrets' data changing.
  const replace = async (e: Entry, json: string): Promise<void> => {
    await kube.core.replaceNamespacedSecret({
      name: `entry-${e.name}`,
      namespace: 'garden',
      body: {
        metadata: {
          name: `entry-${e.name}`,
          namespace: 'garden',
          finalizers: ['extensions.gardener.cloud/backupentry'],
        },
        data: { 'serviceaccount.json': Buffer.from(json).toString('base64') },
      },
    });
  };
  const digestBefore = (await rotated.h.query(statusQuery)).etcdBackupSecret?.digest;
  await replace(malformed, SA1.json);
  await replace(rotated, SA2.json);
  snapshots.push(
    await statusUntil(malformed.h, (v) => v.phase === 'Ready', 'malformed entry Ready once fixed', 90_000),
  );
  snapshots.push(
    await statusUntil(
      rotated.h,
      (v) => !!v.etcdBackupSecret && v.etcdBackupSecret.digest !== digestBefore,
      'rotation applied',
      90_000,
    ),
  );
  const etcd = await kube.core.readNamespacedSecret({ name: 'etcd-backup', namespace: rotated.ns });
  expect(Buffer.from(etcd.data!['serviceaccount.json']!, 'base64').toString()).toBe(SA2.json);
  const positiveControl = JSON.stringify(etcd.data); // where the key must be: the scan below would find it here

  // Delete everything (retention 0s); one keeps its backups; one meets a 403 first.
  const rule = proxy.add({ match: on.deletes(forbidden.bucket), action: faults.forbidden });
  for (const e of [plain, forbidden, malformed, rotated, local, wi])
    await kube.annotate(e.name, { [ANN.retention]: '0s' });
  await kube.annotate(kept.name, { [ANN.keep]: 'true' });
  for (const e of [plain, forbidden, malformed, rotated, kept, local, wi]) await kube.deleteEntry(e.name);
  snapshots.push(
    await kube.entryUntil(
      forbidden.name,
      (x) => (x?.status?.lastError?.codes ?? []).includes('ERR_INFRA_UNAUTHORIZED'),
      '403 status',
      90_000,
    ),
  );
  snapshots.push(await forbidden.h.query(statusQuery));
  proxy.rules.splice(proxy.rules.indexOf(rule), 1);
  await forbidden.h.signal(reconcileSignal, { reason: 'storage permission fixed' });
  const results = await Promise.all([plain, forbidden, malformed, rotated, kept, local, wi].map((e) => e.h.result()));
  expect(results.map((r) => r.outcome)).toEqual([
    'deleted',
    'deleted',
    'deleted',
    'deleted',
    'kept',
    'deleted',
    'deleted',
  ]);
  // The workload-identity entry's deletion went through the exchange: its token at the stand-in, the access token at GCS.
  expect(sts.seen.some((r) => r.status === 200 && r.form?.subject_token === WI_TOKEN)).toBe(true);
  expect(new Set(proxy.seen.filter((r) => r.bucket === wi.bucket).map((r) => r.authorization))).toEqual(
    new Set([`Bearer ${WI_ACCESS}`]),
  );
  expect((await listGcs(storage.bucket(kept.bucket))).length).toBe(3);
  expect(listLocal(localRoot, 'bucket-leak')).toEqual([`${local.name}2/etcd-main/v2/Full-1.gz`]);

  // Everything observable, as text.
  const names = [plain, forbidden, malformed, rotated, kept, local, wi].map((e) => e.name);
  const histories = await Promise.all(
    [plain, forbidden, malformed, rotated, kept, local, wi].map((e) => historyText(e.h)),
  );
  const events = (await kube.core.listEventForAllNamespaces({})).items.filter((ev) =>
    names.includes(ev.involvedObject.name ?? ''),
  );
  const scrape = (port: number | undefined, what: string): Promise<string> =>
    pollFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/metrics`);
        return r.ok ? r.text() : undefined;
      },
      what,
      10_000,
    );
  const metrics = await scrape(metricsPort, 'watcher /metrics');
  const workerMetrics = await scrape(worker.httpPort(), 'worker /metrics');
  const sources: Record<string, string> = {
    'workflow histories': histories.join('\n'),
    'worker log': worker.text(),
    'watcher log': watcher.text(),
    'watcher /metrics': metrics,
    "worker /metrics (bel_worker_* and the Temporal runtime's temporal_*)": workerMetrics,
    'entry statuses and status queries': JSON.stringify(snapshots),
    'Kubernetes Events': JSON.stringify(events),
  };
  const needles = [
    ...new Set(
      [
        SA1.json,
        SA2.json,
        MALFORMED,
        SA1.privateKey,
        SA2.privateKey,
        TOKEN,
        WI_TOKEN,
        WI_ACCESS,
        WI_AUDIENCE,
        WI_CONFIG,
      ]
        .flatMap(needlesOf)
        .concat([SA1.marker, SA2.marker, SA1.fields.private_key_id!, SA2.fields.private_key_id!]),
    ),
  ];
  const found = Object.fromEntries(Object.entries(sources).map(([k, text]) => [k, hits(text, needles)]));
  const sizes = Object.fromEntries(Object.entries(sources).map(([k, text]) => [k, text.length]));
  // The scan sees what it should: the logs hold these entries, the histories their payloads, the metrics the watcher's series.
  expect(worker.text()).toContain(plain.name);
  expect(watcher.text()).toContain(rotated.name);
  expect(sources['workflow histories']).toContain('etcd-backup');
  // Payloads are bytes: JSON.stringify of the raw history shows them as numbers and would find nothing (negative
  // control for a naive scan); the decoded text has them (the receipt's cursor is only in an activity result).
  const cursorKey = `${plain.name}/etcd-main/v2/Incr-2.gz`;
  expect(JSON.stringify(await plain.h.fetchHistory())).not.toContain(cursorKey);
  expect(histories[0]).toContain(cursorKey);
  expect(metrics).toContain('bel_watcher_signals_total');
  expect(workerMetrics).toMatch(/^bel_worker_/m);
  expect(workerMetrics).toMatch(/^temporal_/m);
  expect(events.length).toBeGreaterThan(0);
  expect(hits(positiveControl, needles).length).toBeGreaterThan(0);
  expect(found).toEqual(Object.fromEntries(Object.keys(sources).map((k) => [k, []])));
  recordResult('K1 credential leaks', {
    needles: needles.length,
    scannedChars: sizes,
    workerLogLines: worker.lines().length,
    watcherLogLines: watcher.lines().length,
    events: events.length,
    hits: found,
  });
}, 300_000);
