/**
 * Which namespaces the watcher lists and watches secrets in: exactly `BEL_PROVIDER_SECRET_NAMESPACES` (the chart's
 * `providerSecretNamespaces`, where its RBAC lets it), each of them also with no entry referencing it (retention
 * records of released entries live there), and no other: not `garden` when the list leaves it out, not a namespace an
 * entry's `spec.secretRef` points at outside the list (a warning, once). The leadership term hands this set to the
 * secret informers (`SecretWatch.setNamespaces`).
 */
import pino from 'pino';
import { ConfigError, loadConfig } from '../../../config';
import { EntryDecisions, type Memory } from '../../../starter/entry-decisions';
import { FailingSince } from '../../../starter/entry-health';
import type { WatchedEntry } from '../../../starter/intent';
import type { WatcherMetrics } from '../../../starter/watcher-metrics';

const entry = (name: string, secretNamespace: string): WatchedEntry => ({
  name,
  uid: `uid-${name}`,
  resourceVersion: '1',
  generation: 1,
  type: 'local',
  class: 'shoot',
  secretRef: { namespace: secretNamespace, name: `entry-${name}` },
  annotations: {},
  lastOperation: { type: 'Create', state: 'Succeeded' },
  observedGeneration: 1,
});

function decisions(env: NodeJS.ProcessEnv) {
  const watched: string[][] = [];
  const warnings: Array<{ msg: string; namespace?: string }> = [];
  const entries = new Map<string, WatchedEntry>();
  const memory: Memory = { fingerprints: new Map(), secrets: new Map(), failing: new FailingSince() };
  const d = new EntryDecisions({
    config: loadConfig({ BACKUP_LOCAL_DIR: '/srv/backups', ...env }),
    log: pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) }),
    metrics: { events: { inc: () => undefined } } as unknown as WatcherMetrics,
    memory,
    entries: () => entries,
    enqueue: () => undefined,
    watchNamespaces: (namespaces) => watched.push([...namespaces].sort()),
    readSecretData: async () => undefined,
  });
  const sync = (...es: WatchedEntry[]): void => {
    entries.clear();
    for (const e of es) entries.set(e.name, e);
    d.onEntrySync(entries);
  };
  return { d, watched, warnings, sync };
}

describe('the secret namespaces the watcher watches', () => {
  it('not garden when BEL_PROVIDER_SECRET_NAMESPACES leaves it out, with or without entries', () => {
    const { watched, sync } = decisions({ BEL_PROVIDER_SECRET_NAMESPACES: 'provider-secrets' });
    sync();
    sync(entry('shoot--p--a--1', 'provider-secrets'));
    expect(watched).toEqual([['provider-secrets'], ['provider-secrets']]);
  });

  it('never a namespace outside the list, even when an entry references a secret there (one warning)', () => {
    const { d, watched, warnings, sync } = decisions({ BEL_PROVIDER_SECRET_NAMESPACES: 'provider-secrets' });
    sync(entry('shoot--p--a--1', 'garden'), entry('shoot--p--b--2', 'provider-secrets'));
    d.onEntryEvent('ADDED', entry('shoot--p--c--3', 'garden'));
    d.onEntryEvent('MODIFIED', entry('shoot--p--d--4', 'elsewhere'));
    expect(watched.flat()).not.toContain('garden');
    expect(watched.flat()).not.toContain('elsewhere');
    expect(watched.at(-1)).toEqual(['provider-secrets']);
    expect(warnings.map((w) => w.namespace)).toEqual(['garden', 'elsewhere']);
    expect(warnings[0]!.msg).toMatch(/outside BEL_PROVIDER_SECRET_NAMESPACES/);
  });

  it('every listed namespace, also one no entry references (retention records of released entries)', () => {
    const { watched, sync } = decisions({ BEL_PROVIDER_SECRET_NAMESPACES: 'garden, team-secrets' });
    sync(entry('shoot--p--a--1', 'garden'));
    expect(watched).toEqual([['garden', 'team-secrets']]);
  });

  it('by default: garden (the chart default and where gardenlet puts the extension secrets)', () => {
    const { watched, sync } = decisions({});
    sync();
    expect(watched).toEqual([['garden']]);
    expect(loadConfig({ BACKUP_LOCAL_DIR: '/srv/backups' }).providerSecretNamespaces).toEqual(['garden']);
  });

  it.each([
    ['an empty list', ''],
    ['only commas', ' , '],
    ['not a namespace name', 'Garden'],
    ['a path', 'garden/x'],
  ])('refuses %s as BEL_PROVIDER_SECRET_NAMESPACES', (_what, value) => {
    expect(() => loadConfig({ BACKUP_LOCAL_DIR: '/srv/backups', BEL_PROVIDER_SECRET_NAMESPACES: value })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ BACKUP_LOCAL_DIR: '/srv/backups', BEL_PROVIDER_SECRET_NAMESPACES: value })).toThrow(
      /BEL_PROVIDER_SECRET_NAMESPACES/,
    );
  });
});
