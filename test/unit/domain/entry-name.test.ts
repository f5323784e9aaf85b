import fc from 'fast-check';
import { assertKeyInPrefix, entryPrefix, parseEntryName } from '../../../domain/entry-name';

const UID = '6f1a0c2e-1b2d-4c3e-9f00-0a1b2c3d4e5f';
const namespaceArb = fc
  .stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
  .filter((ns) => !ns.startsWith('source-'));
const entryArb = fc.record({ namespace: namespaceArb, uid: fc.uuid(), source: fc.boolean() }).map((e) => ({
  ...e,
  base: `${e.namespace}--${e.uid}`,
  name: `${e.source ? 'source-' : ''}${e.namespace}--${e.uid}`,
}));

function parse(name: string) {
  const r = parseEntryName(name);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}
function message(name: string): string {
  const r = parseEntryName(name);
  if (r.ok) throw new Error(`expected ${name} to be rejected`);
  expect(r.error).toMatchObject({ code: 'ERR_CONFIGURATION_PROBLEM', reason: 'InvalidEntryName' });
  return r.error.message;
}

describe('parseEntryName', () => {
  it('parses shoot, source and garden entries', () => {
    expect(parse(`shoot--dev--demo--${UID}`)).toEqual({
      name: `shoot--dev--demo--${UID}`,
      source: false,
      technicalId: 'shoot--dev--demo',
      shootUid: UID,
      namespace: 'shoot--dev--demo',
      etcdSecretName: 'etcd-backup',
      prefix: `shoot--dev--demo--${UID}/`,
    });
    expect(parse(`source-shoot--dev--demo--${UID}`)).toMatchObject({
      source: true,
      namespace: 'shoot--dev--demo',
      etcdSecretName: 'source-etcd-backup',
      prefix: `shoot--dev--demo--${UID}/`,
    });
    expect(parse(`garden--${UID}`)).toMatchObject({ namespace: 'garden', shootUid: UID });
  });

  it.each([
    ['', 'BackupEntry name is empty'],
    ['shoot-dev-demo', 'BackupEntry name "shoot-dev-demo" has no "--<shoot UID>" token'],
    ['source-', 'BackupEntry name "source-" has nothing after the "source-" prefix'],
    [
      `Shoot--dev--${UID}`,
      `BackupEntry name "Shoot--dev--${UID}" contains upper-case letters; names are lower-case DNS subdomains`,
    ],
    [`shoot--a/b--${UID}`, `BackupEntry name "shoot--a/b--${UID}" must not contain "/"`],
    [`shoot--a..b--${UID}`, `BackupEntry name "shoot--a..b--${UID}" must not contain ".."`],
    [
      `--${UID}`,
      `BackupEntry name "--${UID}" is not a DNS subdomain (lower-case alphanumerics, "-" and ".", starting and ending with an alphanumeric)`,
    ],
    [
      'shoot--dev--a.b',
      'BackupEntry name "shoot--dev--a.b" ends in "--a.b", which is not a shoot UID (lower-case alphanumerics and "-", starting and ending with an alphanumeric)',
    ],
    [
      `shoot.x--${UID}`,
      `BackupEntry name "shoot.x--${UID}" yields namespace "shoot.x", which is not a DNS-1123 label (lower-case alphanumerics and "-", at most 63 characters)`,
    ],
  ])('rejects %j with a specific message', (name, expected) => {
    expect(message(name)).toBe(expected);
  });

  it('rejects too-long names, quoting only the start of the name', () => {
    const name = `shoot--${'a'.repeat(250)}--x`;
    expect(message(name)).toBe(`BackupEntry name "${name.slice(0, 80)}…" is 260 characters long; the maximum is 253`);
  });

  it('rejects a namespace longer than 63 characters', () => {
    expect(message(`${'a'.repeat(64)}--${UID}`)).toContain('at most 63 characters');
  });

  it('never throws, and everything it accepts has a safe prefix', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (name) => {
        const r = parseEntryName(name);
        if (r.ok) expect(r.value.prefix).toMatch(/^[a-z0-9][-a-z0-9.]*\/$/);
      }),
    );
  });
});

describe('prefix properties', () => {
  it('ends in "/", never contains "..", keeps namespace and UID apart', () => {
    fc.assert(
      fc.property(entryArb, (e) => {
        const id = parse(e.name);
        expect(id.prefix.endsWith('/')).toBe(true);
        expect(id.prefix).not.toContain('..');
        expect(id.prefix.indexOf('/')).toBe(id.prefix.length - 1);
        expect(id.namespace).toBe(e.namespace);
        expect(id.shootUid).toBe(e.uid);
        expect(id.namespace).not.toContain(id.shootUid);
        expect(id.source).toBe(e.source);
      }),
    );
  });

  it('gives source-X and X the same prefix', () => {
    fc.assert(
      fc.property(entryArb, (e) => {
        expect(entryPrefix(`source-${e.base}`)).toEqual(entryPrefix(e.base));
      }),
    );
  });

  it('never nests the prefixes of two different entries', () => {
    fc.assert(
      fc.property(entryArb, entryArb, (a, b) => {
        fc.pre(a.base !== b.base);
        const pa = parse(a.name).prefix;
        const pb = parse(b.name).prefix;
        expect(pa.startsWith(pb) || pb.startsWith(pa)).toBe(false);
      }),
    );
  });
});

describe('assertKeyInPrefix', () => {
  const prefix = `shoot--dev--demo--${UID}/`;
  it('accepts keys under the prefix only', () => {
    expect(assertKeyInPrefix(prefix, `${prefix}etcd-main/v2/Full-00000000-00012345-1755684000.gz`)).toBe(true);
    expect(assertKeyInPrefix(prefix, `shoot--dev--demo--${UID}2/etcd-main/x`)).toBe(false);
    expect(assertKeyInPrefix(prefix, `shoot--dev--demo--${UID}-x/etcd-main/x`)).toBe(false);
    expect(assertKeyInPrefix(prefix, prefix.slice(0, -1))).toBe(false);
    expect(assertKeyInPrefix(prefix, `${prefix}../other/x`)).toBe(false);
  });
  it('rejects an empty, root or slash-less prefix', () => {
    expect(assertKeyInPrefix('', 'a')).toBe(false);
    expect(assertKeyInPrefix('/', '/a')).toBe(false);
    expect(assertKeyInPrefix('abc', 'abcd')).toBe(false);
  });
  it('holds for every key built from a valid entry prefix, and never for sibling prefixes', () => {
    fc.assert(
      fc.property(
        entryArb,
        fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/).filter((r) => r !== '..'),
        (e, rest) => {
          const p = parse(e.name).prefix;
          expect(assertKeyInPrefix(p, `${p}etcd-main/${rest}`)).toBe(true);
          expect(assertKeyInPrefix(p, `${p.slice(0, -1)}${rest}/x`)).toBe(false);
        },
      ),
    );
  });
});
