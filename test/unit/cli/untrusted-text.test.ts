/**
 * Every field the CLI prints that comes from a workflow (query, update, result, failure), from Temporal visibility (search
 * attributes) or, through them, from a provider (object names in errors) reaches the terminal filtered: no control
 * character, escape sequence, line break, direction override or invisible format character (U+061C and U+2060–U+2064
 * included), in the table and story output, the `--wait` progress, the refusals and failures, and the JSON output
 * (escaped there, so the document is unchanged). A stand-in client answers with such text in every field; each field
 * is tagged, so the test also sees that it is printed at all.
 */
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { RetryState, TypedSearchAttributes, WorkflowNotFoundError } from '@temporalio/common';
import { runCli } from '../../../starter/cli/program';
import {
  BACKUP_BUCKET,
  BACKUP_ENTRY_NAME,
  BACKUP_ENTRY_PHASE,
  BACKUP_ENTRY_TYPE,
  DELETION_SCHEDULED_AT,
} from '../../../workflows/search-attributes';

const ENTRY = 'shoot--dev--demo--5b3e9d6c-0f0e-4d8a-9a53-2f3c1f2b7e41';

/** The characters a terminal must never receive raw from stored text (a line break only where the CLI puts one). */
const UNSAFE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;
/** Hostile text: clears the screen, reverses and hides text, and starts a forged line. */
const evil = (tag: string): string =>
  `<${tag}>\u001b[2J\u202e\u061c\u2060\u2061\u2062\u2063\u2064\u0085\u009b31m\r\nFORGED ${tag}\u2028x`;

function expectClean(text: string): void {
  const bad = [...text].find((c) => UNSAFE.test(c));
  expect(bad === undefined ? 'clean' : `U+${bad.codePointAt(0)!.toString(16).padStart(4, '0')}`).toBe('clean');
  expect(text).not.toMatch(/^FORGED/m);
}

const decision = (tag: string) => ({
  at: evil(`${tag}.at`),
  action: evil(`${tag}.action`),
  by: evil(`${tag}.by`),
  reason: evil(`${tag}.reason`),
  outcome: evil(`${tag}.outcome`),
});

const VIEW = {
  entryName: evil('view.entryName'),
  phase: evil('view.phase'),
  type: evil('view.type'),
  bucket: evil('view.bucket'),
  prefix: evil('view.prefix'),
  namespace: evil('view.namespace'),
  deletionScheduledAt: '2099-01-01T00:00:00Z',
  retention: { periodMs: 3_600_000, source: evil('view.retention.source') },
  inventory: { objects: evil('view.inventory.objects'), bytes: 10, truncated: false },
  lastOperation: {
    type: evil('view.lastOperation.type'),
    state: evil('view.lastOperation.state'),
    description: evil('view.lastOperation.description'),
    at: evil('view.lastOperation.at'),
  },
  lastError: {
    message: evil('view.lastError.message'),
    codes: [evil('view.lastError.codes')],
    at: evil('view.lastError.at'),
  },
  etcdBackupSecret: { namespace: evil('view.secret.namespace'), name: 'etcd-backup', digest: evil('view.digest') },
  decisions: [decision('view.decision')],
  summary: evil('view.summary'),
};
const RESULT = {
  entryName: evil('result.entryName'),
  phase: evil('result.phase'),
  outcome: evil('result.outcome'),
  deletion: {
    deletedObjects: evil('result.deletedObjects'),
    deletedBytes: evil('result.deletedBytes'),
    remainingObjects: evil('result.remainingObjects'),
  },
  decisions: [],
};

const attributes = (tag: string): TypedSearchAttributes =>
  new TypedSearchAttributes([
    { key: BACKUP_ENTRY_NAME, value: evil(`${tag}.name`) },
    { key: BACKUP_ENTRY_PHASE, value: evil(`${tag}.phase`) },
    { key: BACKUP_ENTRY_TYPE, value: evil(`${tag}.type`) },
    { key: BACKUP_BUCKET, value: evil(`${tag}.bucket`) },
    { key: DELETION_SCHEDULED_AT, value: new Date('2099-01-01T00:00:00Z') },
  ]);

/** How the stand-in's workflow answers. */
interface Behaviour {
  update?: () => Promise<unknown>;
  result?: () => Promise<unknown>;
}

function standIn(b: Behaviour): Client {
  const handle = {
    workflowId: `backupentry/seed-a/${ENTRY}`,
    describe: async () => ({
      runId: 'run-1',
      status: { name: 'RUNNING' },
      raw: { pendingActivities: [] },
      typedSearchAttributes: attributes('describe'),
    }),
    query: async () => structuredClone(VIEW),
    executeUpdate: () => (b.update ?? (async () => decision('update')))(),
    result: () => (b.result ?? (() => new Promise((r) => setTimeout(() => r(structuredClone(RESULT)), 1200))))(),
  };
  return {
    options: { namespace: 'default' },
    withAbortSignal: <R>(_signal: AbortSignal, fn: () => Promise<R>) => fn(),
    workflow: {
      options: { loadedDataConverter: { payloadCodecs: [], payloadConverter: { fromPayload: () => ({}) } } },
      getHandle: () => handle,
      list: () =>
        (async function* () {
          yield {
            workflowId: `backupentry/seed-a/${ENTRY}`,
            runId: evil('list.runId'),
            status: { name: 'RUNNING' },
            typedSearchAttributes: attributes('list'),
          };
        })(),
    },
  } as unknown as Client;
}

async function cli(b: Behaviour, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    client: standIn(b),
    env: { BEL_CLUSTER_IDENTITY: 'seed-a', USER: 'tester', BEL_CLI_TIMEOUT: '30s' },
    out: { write: (t: string) => (out += t) },
    err: { write: (t: string) => (err += t) },
    progressIntervalMs: 1,
  });
  return { code, out, err };
}

/** Each tag is printed (so the field is shown at all) and the whole output is clean. */
function expectShownClean(text: string, tags: readonly string[]): void {
  expectClean(text);
  for (const tag of tags) expect(text).toContain(`<${tag}>`);
}

describe('the CLI prints text from workflows and providers only filtered', () => {
  it('list: every column of the table', async () => {
    const r = await cli({}, 'list');
    expect(r.code).toBe(0);
    expectShownClean(r.out, ['list.name', 'list.phase', 'list.type', 'list.bucket']);
  });

  it('list -o json: escaped, and the document is unchanged', async () => {
    const r = await cli({}, 'list', '-o', 'json');
    expect(r.code).toBe(0);
    expectClean(r.out);
    const [row] = JSON.parse(r.out) as Array<Record<string, string>>;
    expect([row!.entry, row!.phase, row!.bucket, row!.runId]).toEqual([
      evil('list.name'),
      evil('list.phase'),
      evil('list.bucket'),
      evil('list.runId'),
    ]);
  });

  it('status: every field of the story, lastError and object names in descriptions included', async () => {
    const r = await cli({}, 'status', ENTRY);
    expect(r.code).toBe(0);
    expectShownClean(r.out, [
      'view.entryName',
      'view.phase',
      'view.type',
      'view.bucket',
      'view.prefix',
      'view.namespace',
      'view.retention.source',
      'view.inventory.objects',
      'view.lastOperation.type',
      'view.lastOperation.state',
      'view.lastOperation.description',
      'view.lastOperation.at',
      'view.lastError.message',
      'view.lastError.codes',
      'view.lastError.at',
      'view.summary',
      'view.decision.at',
      'view.decision.action',
      'view.decision.by',
      'view.decision.reason',
      'view.decision.outcome',
    ]);
    expectClean(r.err);
  });

  it('status -o json: escaped, and the document is unchanged', async () => {
    const r = await cli({}, 'status', ENTRY, '-o', 'json');
    expect(r.code).toBe(0);
    expectClean(r.out);
    expect((JSON.parse(r.out) as { view: unknown }).view).toEqual(VIEW);
  });

  it('expedite --wait: the recorded decision, the progress lines and how the workflow ended', async () => {
    const r = await cli({}, 'expedite', ENTRY, '--reason', 'test', '--wait');
    expect(r.code).toBe(0);
    expectShownClean(r.out, [
      'update.outcome',
      'update.at',
      'update.action',
      'update.by',
      'update.reason',
      'result.phase',
      'result.outcome',
      'result.deletedObjects',
      'result.deletedBytes',
      'result.remainingObjects',
    ]);
    expectShownClean(r.err, ['view.phase', 'view.summary']);
    expect(r.err).toMatch(/… still <view\.phase>/); // the "still ..." progress line names the phase, filtered
  });

  it('expedite --wait -o json: escaped documents, the progress and the end on stderr filtered', async () => {
    const r = await cli({}, 'expedite', ENTRY, '--reason', 'test', '--wait', '-o', 'json');
    expect(r.code).toBe(0);
    expectClean(r.out);
    expect(JSON.parse(r.out)).toEqual({ decision: decision('update'), result: RESULT });
    expectShownClean(r.err, ['view.phase', 'view.summary', 'result.phase', 'result.outcome']);
  });

  it("a refusal: the workflow's validator message", async () => {
    const r = await cli(
      {
        update: () =>
          Promise.reject(new WorkflowUpdateFailedError('Workflow Update failed', new Error(evil('refusal')))),
      },
      'expedite',
      ENTRY,
      '--reason',
      'test',
    );
    expect(r.code).toBe(2);
    expectShownClean(r.err, ['refusal']);
  });

  it('an ended workflow: the phase from its search attributes', async () => {
    const r = await cli(
      { update: () => Promise.reject(new WorkflowNotFoundError('gone', `backupentry/seed-a/${ENTRY}`, undefined)) },
      'cancel-cleanup',
      ENTRY,
      '--reason',
      'test',
    );
    expect(r.code).toBe(2);
    expectShownClean(r.err, ['describe.phase']);
  });

  it("a workflow that failed while --wait followed it: the failure's message", async () => {
    const r = await cli(
      {
        result: () =>
          Promise.reject(
            new WorkflowFailedError('failed', new Error(evil('failure')), RetryState.NON_RETRYABLE_FAILURE),
          ),
      },
      'expedite',
      ENTRY,
      '--reason',
      'test',
      '--wait',
    );
    expect(r.code).toBe(1);
    expectShownClean(r.err, ['failure']);
  });

  it('any other error: its message', async () => {
    const r = await cli({ update: () => Promise.reject(new Error(evil('other'))) }, 'expedite', ENTRY, '--reason', 'x');
    expect(r.code).toBe(1);
    expectShownClean(r.err, ['other']);
  });
});
