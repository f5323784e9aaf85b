/**
 * The bad-input matrix (docs/design.md §6; docs/reliability.md, cases B01–B30): each case creates what an operator or gardenlet
 * might get wrong on the real kube-apiserver, starts the entry's workflow directly (as the watcher would) on a real
 * worker process, and asserts the exact status (`lastOperation`, `lastError.codes`), a line in the worker's log, and
 * that no object was deleted — neither the entry's own nor anybody else's.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bucket } from '@google-cloud/storage';
import type { Client } from '@temporalio/client';
import { statusQuery, reconcileSignal } from '../../workflows/messages';
import { stackEnv } from '../support/env';
import { startWorkerProcess, type LogLine, type WorkerProcess } from '../support/worker-process';
import {
  ANN,
  FINALIZER,
  Kube,
  createGcsBucket,
  gcsClient,
  listGcs,
  listLocal,
  pollFor,
  putGcs,
  putLocal,
  recordResult,
  serviceAccount,
  short,
  startEntryWorkflow,
  statusUntil,
  temporalClient,
  type EntryObject,
} from './harness';

const kube = new Kube();
const storage = gcsClient();
const SA = serviceAccount();
const dir = mkdtempSync(join(tmpdir(), 'bel-rel-bad-'));
const localRoot = join(dir, 'local');
const LOCAL_BUCKET = 'bucket-bad';
const taskQueue = `rel-bad-${short()}`;
const cluster = `rel-bad-${short()}`;
let gcsBucket: Bucket;
let worker: WorkerProcess;
let client: Client;
const cleanups: Array<() => Promise<unknown>> = [];
/** Every object put anywhere by this file, by bucket; all must survive (except those the two-entries case deletes). */
const expectedLocal = new Set<string>();
const expectedGcs = new Set<string>();

const saWithout = (field: string): string =>
  JSON.stringify(Object.fromEntries(Object.entries(SA.fields).filter(([k]) => k !== field)));

/** What a case creates and what it expects. */
interface Case {
  id: string;
  title: string;
  type?: 'local' | 'gcp';
  /** Entry name (default: a fresh valid shoot name); `ns` is the namespace to create when it differs from the parsed one. */
  name?: () => { name: string; ns?: string };
  /** Provider secret data; `null`: no secret is created. Default: valid for the type. */
  secret?: Record<string, string> | null;
  /** Overrides of the spec (bucketName, secretRef, type). */
  spec?: Record<string, unknown>;
  /** Do not create the shoot namespace. */
  noNamespace?: boolean;
  /** The API server refuses the entry: the message it gives. The workflow (started anyway) finds no entry. */
  apiRejects?: RegExp;
  /** Delete the entry (after it is Ready) with these annotations. */
  deleteWith?: Record<string, string>;
  expect: {
    /** Phase of the workflow (status query). */
    phase: string;
    lastOperation?: { type: string; state: string };
    /** `undefined`: no lastError. */
    codes?: string[];
    /** lastError.description, or lastOperation.description when there is no error. */
    description?: RegExp;
    /** A worker log line about this entry with this message (and, if given, matching text); "Operation failed" lines must carry `codes`. */
    log: { msg: string; text?: RegExp };
    /** A decision in the workflow's log (notes). */
    decision?: RegExp;
  };
  /** Extra steps and checks after the expectation holds. */
  then?: (c: {
    name: string;
    ns: string;
    entry?: EntryObject;
    h: Awaited<ReturnType<typeof startEntryWorkflow>>;
  }) => Promise<Record<string, unknown> | void>;
}

const validName = (label: string): { name: string; ns: string } => {
  const ns = `shoot--bad--${label}-${short()}`;
  return { ns, name: `${ns}--${short()}-4c8e-9a0b-1234567890ab` };
};
const CONFIG = 'ERR_CONFIGURATION_PROBLEM';
const OPERATION_FAILED = { msg: 'Operation failed; retrying later' };
const GONE = { msg: 'Decision', text: /the BackupEntry no longer exists/ };
const INVALID_NAME_API =
  /Invalid value|a lowercase RFC 1123 subdomain|may not contain|must be no more than 253 characters/;

const CASES: Case[] = [
  {
    id: 'B01',
    title: 'secretRef secret missing',
    secret: null,
    expect: {
      phase: 'Error',
      lastOperation: { type: 'Create', state: 'Error' },
      codes: [CONFIG],
      description: /secret garden\/entry-.* referenced by spec\.secretRef does not exist/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B02',
    title: 'secretRef secret empty (no data)',
    secret: {},
    expect: {
      phase: 'Error',
      lastOperation: { type: 'Create', state: 'Error' },
      codes: [CONFIG],
      description: /referenced by spec\.secretRef has no data/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B03',
    title: 'gcp: secret without serviceaccount.json',
    type: 'gcp',
    secret: { 'service-account.json': SA.json },
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /has no "serviceaccount\.json" key/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B04',
    title: 'gcp: serviceaccount.json empty',
    type: 'gcp',
    secret: { 'serviceaccount.json': '' },
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /has no "serviceaccount\.json" key|has no data/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B05',
    title: 'gcp: serviceaccount.json malformed (truncated after the private key)',
    type: 'gcp',
    secret: { 'serviceaccount.json': SA.json.slice(0, SA.json.indexOf('"client_email"')) },
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /"serviceaccount\.json" key of the provider secret is not valid JSON/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B06',
    title: 'gcp: serviceaccount.json is a JSON array',
    type: 'gcp',
    secret: { 'serviceaccount.json': '[1,2]' },
    expect: { phase: 'Error', codes: [CONFIG], description: /is not a JSON object/, log: OPERATION_FAILED },
  },
  {
    id: 'B07',
    title: 'gcp: service account lacks private_key',
    type: 'gcp',
    secret: { 'serviceaccount.json': saWithout('private_key') },
    expect: { phase: 'Error', codes: [CONFIG], description: /lacks the field "private_key"/, log: OPERATION_FAILED },
  },
  {
    id: 'B08',
    title: 'gcp: service account lacks client_email',
    type: 'gcp',
    secret: { 'serviceaccount.json': saWithout('client_email') },
    expect: { phase: 'Error', codes: [CONFIG], description: /lacks the field "client_email"/, log: OPERATION_FAILED },
  },
  {
    id: 'B09',
    title: 'gcp: service account of the wrong type',
    type: 'gcp',
    secret: { 'serviceaccount.json': JSON.stringify({ ...SA.fields, type: 'authorized_user' }) },
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /"type" of "serviceaccount\.json" must be "service_account"/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B10',
    title: 'unknown type (the watcher ignores it; a workflow started anyway reports it)',
    spec: { type: 'azure' },
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /spec\.type "azure", for which no storage provider is configured \(known: gcp, local\)/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B11',
    title: 'name without a UID token',
    name: () => ({ name: `shoot-bad-nouid-${short()}` }),
    expect: { phase: 'Error', codes: [CONFIG], description: /has no "--<shoot UID>" token/, log: OPERATION_FAILED },
    then: async ({ entry }) => {
      expect(entry!.metadata.finalizers ?? []).toEqual([]);
    },
  },
  {
    id: 'B12',
    title: 'name is only "source-"',
    name: () => ({ name: 'source-' }),
    apiRejects: INVALID_NAME_API,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B13',
    title: 'name "source-<x>" without a UID token',
    name: () => ({ name: `source-${short()}` }),
    expect: { phase: 'Error', codes: [CONFIG], description: /has no "--<shoot UID>" token/, log: OPERATION_FAILED },
  },
  {
    id: 'B14',
    title: 'name with upper case',
    name: () => ({ name: `shoot--Bad--${short()}--uid` }),
    apiRejects: INVALID_NAME_API,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B15',
    title: 'name longer than 253 characters',
    name: () => ({ name: `shoot--${'a'.repeat(250)}--uid` }),
    apiRejects: INVALID_NAME_API,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B16',
    title: 'name whose namespace part exceeds 63 characters (valid for the API server)',
    name: () => ({ name: `shoot--${'b'.repeat(60)}-${short()}--uid` }),
    expect: { phase: 'Error', codes: [CONFIG], description: /which is not a DNS-1123 label/, log: OPERATION_FAILED },
  },
  {
    id: 'B17',
    title: 'name with ".."',
    name: () => ({ name: `shoot--bad--x..y--${short()}` }),
    apiRejects: INVALID_NAME_API,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B18',
    title: 'name with "/"',
    name: () => ({ name: `shoot--bad--x/y--${short()}` }),
    apiRejects: /./,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B19',
    title: 'bucketName missing from the spec',
    spec: { bucketName: undefined },
    apiRejects: /spec\.bucketName: Required value/,
    expect: { phase: 'Reconciling', log: GONE },
  },
  {
    id: 'B20',
    title: 'bucketName empty',
    spec: { bucketName: '' },
    expect: {
      phase: 'Error',
      lastOperation: { type: 'Create', state: 'Error' },
      codes: [CONFIG],
      description: /has no spec\.bucketName/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B21',
    title: 'bucket does not exist (found at deletion)',
    spec: { bucketName: 'no-such-bucket' },
    deleteWith: { [ANN.retention]: '0s' },
    // The inventory at retention start is best effort (it must not block keep-backups): the deletion itself fails, loudly.
    expect: {
      phase: 'Deleting',
      lastOperation: { type: 'Delete', state: 'Error' },
      codes: [CONFIG],
      description: /bucket "no-such-bucket" does not exist/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B22',
    title: 'namespace missing, appearing later',
    noNamespace: true,
    // As Gardener's generic actuator (deployEtcdBackupSecret): no etcd-backup secret, and the reconcile succeeds.
    expect: {
      phase: 'Ready',
      lastOperation: { type: 'Create', state: 'Succeeded' },
      description: /Successfully reconciled BackupEntry/,
      log: { msg: 'Phase', text: /"to":"Ready"/ },
    },
    then: async ({ name, ns, h }) => {
      const etcdSecret = () =>
        kube.core.readNamespacedSecret({ namespace: ns, name: 'etcd-backup' }).then(
          () => true,
          () => false,
        );
      expect(await etcdSecret()).toBe(false);
      expect((await h.query(statusQuery)).summary).toMatch(/no etcd-backup secret: namespace .* does not exist/);
      // The shoot's reconcile creates the namespace, then gardenlet reconciles the entry again.
      await kube.ensureNamespace(ns);
      await h.signal(reconcileSignal, { reason: 'namespace appeared' });
      await pollFor(async () => (await etcdSecret()) || undefined, 'etcd-backup once the namespace exists');
      const ok = await kube.entryUntil(name, (e) => e?.status?.lastOperation?.state === 'Succeeded', 'Succeeded');
      expect(ok!.status!.lastError).toBeUndefined();
    },
  },
  {
    id: 'B23',
    title: 'retention-period "abc"',
    deleteWith: { [ANN.retention]: 'abc' },
    expect: {
      phase: 'Retaining',
      lastOperation: { type: 'Delete', state: 'Pending' },
      description: /Backups are retained until/,
      decision: /duration "abc" is not a Go duration.*using the default retention 72h/,
      log: { msg: 'Decision', text: /"reason":"InvalidRetentionPeriod"/ },
    },
    then: async ({ h }) => {
      expect((await h.query(statusQuery)).retention).toEqual({ periodMs: 72 * 3600_000, source: 'default' });
    },
  },
  {
    id: 'B24',
    title: 'retention-period "-1h"',
    deleteWith: { [ANN.retention]: '-1h' },
    expect: {
      phase: 'Retaining',
      lastOperation: { type: 'Delete', state: 'Pending' },
      description: /Backups are retained until/,
      decision: /duration "-1h" is negative.*using the default retention 72h/,
      log: { msg: 'Decision', text: /"reason":"InvalidRetentionPeriod"/ },
    },
  },
  {
    id: 'B25',
    title: 'retention-period absurdly large "1000000h"',
    deleteWith: { [ANN.retention]: '1000000h' },
    expect: {
      phase: 'Retaining',
      lastOperation: { type: 'Delete', state: 'Pending' },
      description: /Backups are retained until/,
      decision: /duration "1000000h" exceeds the maximum of 87600h.*using the default retention 72h/,
      log: { msg: 'Decision', text: /"reason":"InvalidRetentionPeriod"/ },
    },
  },
  {
    id: 'B26',
    title: 'retention-period at the 10-year maximum "87600h" is honoured',
    deleteWith: { [ANN.retention]: '87600h' },
    expect: {
      phase: 'Retaining',
      lastOperation: { type: 'Delete', state: 'Pending' },
      description: /Backups are retained until 20[3-9]\d-/,
      log: { msg: 'Decision', text: /"reason":"retention 87600h \(annotation\)"/ },
    },
    then: async ({ h }) => {
      expect((await h.query(statusQuery)).retention).toEqual({ periodMs: 87600 * 3600_000, source: 'annotation' });
    },
  },
  {
    id: 'B27',
    title: 'force-deletion "maybe" is ignored with a note',
    deleteWith: { [ANN.force]: 'maybe' },
    expect: {
      phase: 'Retaining',
      lastOperation: { type: 'Delete', state: 'Pending' },
      description: /Backups are retained until/,
      decision: /force-deletion ignored/,
      log: { msg: 'Decision', text: /value \\"maybe\\" is not a boolean.*force-deletion ignored/ },
    },
  },
  {
    id: 'B28',
    title: 'keep-backups "maybe" stops the deletion with an error',
    deleteWith: { [ANN.keep]: 'maybe' },
    expect: {
      phase: 'Error',
      lastOperation: { type: 'Delete', state: 'Error' },
      codes: [CONFIG],
      description: /value "maybe" is not a boolean; use "true" or "false"; nothing is deleted until it is fixed/,
      log: OPERATION_FAILED,
    },
    then: async ({ entry }) => {
      expect(entry!.metadata.finalizers).toContain(FINALIZER);
    },
  },
  {
    id: 'B29',
    title: 'secretRef to a namespace that does not exist',
    spec: { secretRef: { name: 'entry-x', namespace: 'no-such-namespace' } },
    secret: null,
    expect: {
      phase: 'Error',
      codes: [CONFIG],
      description: /secret no-such-namespace\/entry-x referenced by spec\.secretRef does not exist/,
      log: OPERATION_FAILED,
    },
  },
  {
    id: 'B30',
    title: "two entries on the same bucket: deleting one leaves the other's objects",
    deleteWith: { [ANN.retention]: '0s' },
    expect: { phase: 'Deleted', log: { msg: 'Phase', text: /"to":"Deleted"/ } },
  },
];

beforeAll(async () => {
  mkdirSync(join(localRoot, LOCAL_BUCKET), { recursive: true });
  gcsBucket = await createGcsBucket(storage, `rel-bad-${short()}`);
  await kube.ensureNamespace('garden');
  // hold-entry: these cases read what the workflow wrote on the deleted entry (Pending, notes); in the default
  // release-entry mode the entry is released in the same step that writes Pending, and is gone before it can be read.
  worker = await startWorkerProcess({
    env: {
      BEL_RETENTION_MODE: 'hold-entry',
      BEL_TASK_QUEUE: taskQueue,
      BEL_CLUSTER_IDENTITY: cluster,
      BEL_PROVIDER_TYPES: 'gcp,local',
      BACKUP_LOCAL_DIR: localRoot,
      GCS_API_ENDPOINT: stackEnv('GCS_API_ENDPOINT'),
    },
    logFile: join(dir, 'worker.log'),
  });
  client = await temporalClient();
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await worker?.stop();
  await client?.connection.close();
  // Nothing any case put into a bucket is gone (B30 removed only its own entry's objects, checked there).
  expect(listLocal(localRoot, LOCAL_BUCKET)).toEqual([...expectedLocal].sort());
  expect(await listGcs(gcsBucket)).toEqual([...expectedGcs].sort());
});

/** Puts the entry's backups and a sibling's into both buckets (the entry's type decides which one it could touch). */
async function seed(name: string): Promise<void> {
  const keys = [`${name}/etcd-main/v2/Full-1.gz`, `${name}/etcd-main/v2/Incr-2.gz`, `${name}2/etcd-main/v2/Full-1.gz`];
  const safe = keys.filter((k) => !k.includes('..') && !k.startsWith('/'));
  putLocal(
    localRoot,
    LOCAL_BUCKET,
    safe.filter((k) => k.split('/')[0]!.length < 255),
  );
  safe.filter((k) => k.split('/')[0]!.length < 255).forEach((k) => expectedLocal.add(k));
  await putGcs(gcsBucket, keys);
  keys.forEach((k) => expectedGcs.add(k));
}

function logLinesFor(name: string): LogLine[] {
  return worker
    .lines()
    .filter((l) => l.entry === name || (typeof l.workflowId === 'string' && l.workflowId.endsWith(`/${name}`)));
}

test.concurrent.each(CASES.map((c) => [c.id, c.title, c] as const))(
  '%s: %s',
  async (id, _title, c) => {
    const type = c.type ?? 'local';
    const { name, ns: nsGiven } = c.name ? c.name() : validName(id.toLowerCase());
    const ns =
      nsGiven ??
      name
        .replace(/^source-/, '')
        .split('--')
        .slice(0, -1)
        .join('--');
    await seed(name);
    if (!c.noNamespace && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) && ns.length <= 63) await kube.ensureNamespace(ns);
    const secretName = `entry-${short()}`;
    const defaultSecret: Record<string, string> = type === 'gcp' ? { 'serviceaccount.json': SA.json } : { token: 'x' };
    const secret = c.secret === undefined ? defaultSecret : c.secret;
    if (secret) await kube.createSecret('garden', secretName, secret);
    const spec: Record<string, unknown> = {
      type,
      region: 'r',
      bucketName: type === 'gcp' ? gcsBucket.name : LOCAL_BUCKET,
      secretRef: { name: secretName, namespace: 'garden' },
      ...c.spec,
    };
    for (const k of Object.keys(spec)) if (spec[k] === undefined) delete spec[k];

    let partner: { name: string; h: Awaited<ReturnType<typeof startEntryWorkflow>> } | undefined;
    if (c.id === 'B30') {
      // The other entry on the same bucket, Ready before and after.
      const p = validName('b30-partner');
      await seed(p.name);
      await kube.ensureNamespace(p.ns);
      await kube.createSecret('garden', `entry-${p.name}`, { token: 'x' });
      await kube.createEntry(p.name, { ...spec, secretRef: { name: `entry-${p.name}`, namespace: 'garden' } });
      cleanups.push(() => kube.forceRemove(p.name));
      partner = { name: p.name, h: await startEntryWorkflow(client, taskQueue, cluster, p.name) };
      cleanups.push(() => partner!.h.terminate('suite finished').catch(() => undefined));
      await statusUntil(partner.h, (v) => v.phase === 'Ready', 'partner Ready');
    }

    if (c.apiRejects) {
      await expect(kube.createEntry(name, spec)).rejects.toMatchObject({
        code: 422,
        body: expect.stringMatching(c.apiRejects),
      });
    } else {
      await kube.createEntry(name, spec);
      cleanups.push(() => kube.forceRemove(name));
    }
    const h = await startEntryWorkflow(client, taskQueue, cluster, name);
    cleanups.push(() => h.terminate('suite finished').catch(() => undefined));

    if (c.deleteWith) {
      await statusUntil(h, (v) => v.phase === 'Ready', 'Ready before deletion');
      await kube.annotate(name, c.deleteWith);
      await kube.deleteEntry(name);
      await h.signal(reconcileSignal, { reason: 'deletion' });
    }

    let entry: EntryObject | undefined;
    const e = c.expect;
    if (c.apiRejects) {
      const result = await h.result();
      expect(result).toMatchObject({ outcome: 'gone', phase: e.phase });
    } else if (e.phase === 'Deleted') {
      expect(await h.result()).toMatchObject({
        outcome: 'deleted',
        phase: 'Deleted',
        deletion: { deletedObjects: 2, remainingObjects: 0 },
      });
      for (const k of [`${name}/etcd-main/v2/Full-1.gz`, `${name}/etcd-main/v2/Incr-2.gz`]) expectedLocal.delete(k);
    } else {
      const view = await statusUntil(
        h,
        (v) =>
          v.phase === e.phase &&
          (e.codes ? v.lastError !== undefined : true) &&
          (!e.decision || v.decisions.some((d) => e.decision!.test(d.outcome))),
        `phase ${e.phase}`,
        60_000,
      );
      if (e.codes) expect(view.lastError?.codes).toEqual(e.codes);
      // The workflow retries failed operations with backoff, and a retry writes Processing while keeping lastError (as
      // Gardener does), so wait for the Error write itself rather than for lastError alone.
      const wantState = e.codes ? 'Error' : e.lastOperation?.state;
      entry = await kube.entryUntil(
        name,
        (x) =>
          x?.status?.lastOperation?.state === wantState && (!e.codes || (x?.status?.lastError?.codes?.length ?? 0) > 0),
        'entry status',
      );
      if (e.lastOperation) expect(entry!.status!.lastOperation).toMatchObject(e.lastOperation);
      if (e.codes) {
        expect(entry!.status!.lastError!.codes).toEqual(e.codes);
        expect(entry!.status!.lastError!.description).toMatch(e.description!);
        expect(entry!.status!.lastOperation!.state).toBe('Error');
      } else {
        expect(entry!.status!.lastError).toBeUndefined();
        if (e.description) expect(entry!.status!.lastOperation!.description).toMatch(e.description);
      }
    }
    // A log line about this entry says what happened.
    const line = await pollFor(
      () =>
        logLinesFor(name)
          .filter(
            (l) =>
              l.msg === e.log.msg &&
              (e.log.msg !== OPERATION_FAILED.msg || JSON.stringify(l.codes) === JSON.stringify(e.codes)),
          )
          .map((l) => JSON.stringify(l))
          .find((l) => !e.log.text || e.log.text.test(l)),
      `log line ${JSON.stringify(e.log)}`,
      20_000,
    );
    const extra = c.then ? await c.then({ name, ns, entry, h }) : undefined;

    // Nothing was deleted: the entry's own objects and its sibling's are all there (B30: only the deleted entry's own are gone).
    if (c.id === 'B30') {
      expect(listLocal(localRoot, LOCAL_BUCKET).filter((k) => k.startsWith(`${name}/`))).toEqual([]);
      expect(listLocal(localRoot, LOCAL_BUCKET).filter((k) => k.startsWith(`${partner!.name}/`))).toHaveLength(2);
      expect((await partner!.h.query(statusQuery)).phase).toBe('Ready');
    } else {
      const mine = (k: string): boolean => k.startsWith(`${name}/`) || k.startsWith(`${name}2/`);
      if (!name.includes('..') && name.length < 255)
        expect(listLocal(localRoot, LOCAL_BUCKET).filter(mine)).toHaveLength(3);
      expect((await listGcs(gcsBucket)).filter(mine)).toHaveLength(3);
    }
    recordResult(`${id} ${c.title}`, {
      phase: e.phase,
      status: entry?.status
        ? { lastOperation: entry.status.lastOperation, lastError: entry.status.lastError }
        : undefined,
      apiRejected: !!c.apiRejects,
      log: line.slice(0, 300),
      ...(extra ?? {}),
    });
  },
  120_000,
);
