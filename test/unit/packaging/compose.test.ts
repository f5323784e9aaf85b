import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../../config';
import { SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes';

const ROOT = resolve(__dirname, '..', '..', '..');
/**
 * The Compose Specification's JSON schema, as shipped by the npm package `dclint` (Docker Compose linter, a
 * devDependency; `schemas/compose.schema.json`). No Docker engine runs here: this is the check of the file's shape.
 */
const SCHEMA = join(ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json');

/**
 * Image tags of docker-compose.yml and where each comes from (none of them could be pulled here: no registry access):
 * the Temporal ones are those of temporalio/docker-compose's PostgreSQL setup,
 * fake-gcs-server is the version the tests build from the Go module proxy (tools/scripts/versions.env).
 */
const KNOWN_IMAGES: Record<string, string> = {
  'postgres:16': 'temporalio/docker-compose .env (POSTGRESQL_VERSION=16)',
  'temporalio/auto-setup:1.29.1': 'temporalio/docker-compose .env (TEMPORAL_VERSION=1.29.1)',
  'temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0': 'temporalio/docker-compose .env (TEMPORAL_ADMINTOOLS_VERSION)',
  'temporalio/ui:2.34.0': 'temporalio/docker-compose .env (TEMPORAL_UI_VERSION=2.34.0)',
  'fsouza/fake-gcs-server:1.56.1': 'same release as FAKE_GCS_SERVER_VERSION=v1.56.1 in tools/scripts/versions.env',
  'backupentry-lifecycle:dev': 'built from ./Dockerfile',
};

/**
 * The schema, compiled by Ajv's default (draft-07) validator. Its `$schema` is draft-07 spelled with https and without
 * the trailing `#`, which Ajv does not recognise as its meta-schema, so it is checked here and then left out.
 */
function compileSchema(): ReturnType<Ajv['compile']> & { ajv: Ajv } {
  const { $schema, ...schema } = JSON.parse(readFileSync(SCHEMA, 'utf8')) as { $schema?: string };
  expect($schema).toMatch(/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/);
  const ajv = new Ajv({ allErrors: true, strict: false });
  return Object.assign(ajv.compile(schema), { ajv });
}

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: Array<string | { target: number; published?: string | number; host_ip?: string }>;
}

/**
 * Compose's interpolation with an empty environment, or `env` (`$$` is a literal `$`): `${VAR}`, `${VAR:-default}`,
 * and `${VAR:?message}`, which fails with `message` when VAR is unset or empty, as `docker compose` does.
 */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?::?([-?])([^}]*))?\}/g,
    (m, name: string, op: string | undefined, arg: string | undefined) => {
      if (m === '$$') return '$';
      if (env[name]) return env[name];
      if (op === '?') throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
      return arg ?? '';
    },
  );
}

/** The host address a published port binds to ('' = every interface), after interpolation with `env`. */
function hostIp(port: NonNullable<Service['ports']>[number], env: Record<string, string> = {}): string {
  if (typeof port !== 'string') return interpolate(port.host_ip ?? '', env);
  // [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]; an IPv6 host address comes in brackets.
  const parts = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+(?:-\d+)?):(\d+(?:-\d+)?)(?:\/\w+)?$/.exec(interpolate(port, env));
  if (!parts) throw new Error(`unexpected port syntax: ${port}`);
  return parts[1] ?? '';
}

describe('docker-compose.yml', () => {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const doc = parse(text, { merge: true }) as {
    name: string;
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };

  it('is valid against the compose-spec JSON schema', () => {
    const validate = compileSchema();
    const ok = validate(doc);
    expect(validate.ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
    expect(ok).toBe(true);
  });

  it('the schema check is not a no-op (negative control)', () => {
    const validate = compileSchema();
    const bad = structuredClone(doc);
    (bad.services.worker as Record<string, unknown>).restart = 'sometimes';
    (bad.services.worker as Record<string, unknown>).imagee = 'typo';
    expect(validate(bad)).toBe(false);
  });

  it('runs PostgreSQL, Temporal, the search-attribute step, the Web UI, worker, watcher and fake-gcs-server', () => {
    expect(Object.keys(doc.services).sort()).toEqual([
      'fake-gcs-server',
      'postgresql',
      'temporal',
      'temporal-search-attributes',
      'temporal-ui',
      'watcher',
      'worker',
    ]);
    for (const name of ['worker', 'watcher']) {
      const s = doc.services[name]!;
      expect(s.build).toBe('.');
      expect(s.depends_on?.['temporal-search-attributes']?.condition).toBe('service_completed_successfully');
      expect(s.volumes?.some((v) => v.endsWith(':/kube/config:ro'))).toBe(true);
      expect(s.environment?.KUBECONFIG).toBe('/kube/config');
      expect(s.healthcheck?.test.join(' ')).toContain('/readyz');
    }
    expect(doc.services.worker!.command).toEqual(['dist/worker/main.js']);
    expect(doc.services.watcher!.command).toEqual(['dist/starter/watcher.js']);
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
  });

  it('publishes every port on 127.0.0.1 by default, BEL_BIND_ADDRESS overrides it', () => {
    const published = Object.entries(doc.services).filter(([, svc]) => svc.ports?.length);
    // Temporal's frontend, the Web UI, fake-gcs-server, worker and watcher metrics: none left out of the check.
    expect(published.map(([name]) => name).sort()).toEqual([
      'fake-gcs-server',
      'temporal',
      'temporal-ui',
      'watcher',
      'worker',
    ]);
    for (const [name, svc] of published) {
      for (const port of svc.ports!) {
        expect([name, port, hostIp(port)]).toEqual([name, port, '127.0.0.1']);
        expect([name, port, hostIp(port, { BEL_BIND_ADDRESS: '0.0.0.0' })]).toEqual([name, port, '0.0.0.0']);
      }
    }
    // Negative control: the short syntax without an address binds every interface, and the check sees it.
    expect(hostIp('7233:7233')).toBe('');
    expect(hostIp({ target: 7233, published: 7233 })).toBe('');
  });

  it('uses only known image tags', () => {
    for (const [name, s] of Object.entries(doc.services)) {
      expect([name, s.image && KNOWN_IMAGES[s.image] ? 'known' : s.image]).toEqual([name, 'known']);
    }
  });

  it('registers exactly the search attributes the workflow writes, with their types', () => {
    const command = String((doc.services['temporal-search-attributes']!.command as string[])[0]);
    const listed = /for sa in ([^;]+);/.exec(command)![1]!.trim().split(/\s+/);
    const expected = SEARCH_ATTRIBUTES.map((k) => `${k.name}=${k.type === 'DATETIME' ? 'Datetime' : 'Keyword'}`);
    expect(listed.sort()).toEqual(expected.sort());
  });

  it("mounts only the kubeconfig KUBECONFIG_FILE names: no default, never the user's current context", () => {
    const env = { KUBECONFIG_FILE: '/home/op/seed.kubeconfig' };
    for (const name of ['worker', 'watcher']) {
      const mount = doc.services[name]!.volumes!.find((v) => v.endsWith(':/kube/config:ro'))!;
      // Unset or empty: Compose refuses to start, and says how to make a file for one context.
      for (const missing of [{}, { KUBECONFIG_FILE: '' }] as Array<Record<string, string>>) {
        expect(() => interpolate(mount, missing)).toThrow(/required variable KUBECONFIG_FILE is missing a value/);
        expect(() => interpolate(mount, missing)).toThrow(/kubectl config view --minify --flatten --context/);
      }
      expect(interpolate(mount, env)).toBe('/home/op/seed.kubeconfig:/kube/config:ro');
      // The process reads exactly that file and takes no context from elsewhere.
      expect(doc.services[name]!.environment?.KUBECONFIG).toBe('/kube/config');
      expect(Object.keys(doc.services[name]!.environment ?? {}).filter((k) => /CONTEXT/i.test(k))).toEqual([]);
    }
    // Nothing in the file falls back to the user's kubeconfig.
    const uncommented = text
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    expect(uncommented).not.toMatch(/~\/\.kube|\$HOME\/\.kube|\$\{HOME\}\/\.kube|KUBECONFIG_FILE:?-/);
    // Negative control: the old default would have mounted ~/.kube/config without a word.
    expect(interpolate('${KUBECONFIG_FILE:-~/.kube/config}:/kube/config:ro')).toBe('~/.kube/config:/kube/config:ro');
  });

  it('sets only configuration variables that exist, and they load', () => {
    for (const name of ['worker', 'watcher']) {
      const env = Object.fromEntries(
        Object.entries(doc.services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]),
      );
      const unknown = Object.keys(env).filter(
        (k) => !CONFIG_VARIABLES.includes(k) && !['KUBECONFIG', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE'].includes(k),
      );
      expect(unknown).toEqual([]);
      const c = loadConfig(env);
      expect(c.temporal.address).toBe('temporal:7233');
      expect(c.providerTypes).toEqual(['gcp', 'local']);
    }
  });
});
