/**
 * Which retention records make the watcher start a run (`resume`): only this seed's, only for a name with no
 * BackupEntry, and never for a `source-` name (never released during retention, so never recorded by us; a forged
 * one would aim at the main entry's prefix).
 */
import pino from 'pino';
import { loadConfig } from '../../../config';
import { workflowIdFor } from '../../../domain';
import type { EntryAction } from '../../../starter/entry-action';
import { EntryDecisions, type Memory } from '../../../starter/entry-decisions';
import { FailingSince } from '../../../starter/entry-health';
import type { WatchedEntry } from '../../../starter/intent';
import type { WatcherMetrics } from '../../../starter/watcher-metrics';

const X = 'shoot--p--a--1234';

function decisions() {
  const enqueued: Array<[string, EntryAction]> = [];
  const warnings: string[] = [];
  const entries = new Map<string, WatchedEntry>();
  const memory: Memory = { fingerprints: new Map(), secrets: new Map(), failing: new FailingSince() };
  const config = loadConfig({ BACKUP_LOCAL_DIR: '/srv/backups', BEL_CLUSTER_IDENTITY: 'seed-1' });
  const d = new EntryDecisions({
    config,
    log: pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) }),
    metrics: { events: { inc: () => undefined } } as unknown as WatcherMetrics,
    memory,
    entries: () => entries,
    enqueue: (name, action) => enqueued.push([name, action]),
    watchNamespaces: () => undefined,
    readSecretData: async () => undefined,
  });
  const id = (name: string): string => {
    const r = workflowIdFor('seed-1', name);
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  };
  return { d, enqueued, warnings, id };
}

describe('retention records the watcher acts on', () => {
  it("resumes this seed's record of a released main entry", () => {
    const { d, enqueued, id } = decisions();
    d.onRetained(`garden/entry-${X}`, [{ entry: X, workflowId: id(X) }]);
    expect(enqueued).toEqual([[X, { kind: 'resume', secret: { namespace: 'garden', name: `entry-${X}` } }]]);
  });

  it('never starts a run for a source- name, even with the right workflow ID (a forged record on X’s secret)', () => {
    const { d, enqueued, warnings, id } = decisions();
    d.onRetained(`garden/entry-${X}`, [{ entry: `source-${X}`, workflowId: id(`source-${X}`) }]);
    expect(enqueued).toEqual([]);
    expect(warnings.join('\n')).toMatch(/source- entry/);
  });

  it("ignores another seed's record", () => {
    const { d, enqueued } = decisions();
    d.onRetained(`garden/entry-${X}`, [{ entry: X, workflowId: `backupentry/other-seed/${X}` }]);
    expect(enqueued).toEqual([]);
  });
});
