import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';
import { CONFIG_VARIABLES, loadConfig } from '../../../config';
import { parseDuration } from '../../../domain';

/**
 * The `@default` tags of the configuration's fields against the defaults the schema applies: a default changed in the
 * schema but not in its comment (or the reverse) fails here. Each field's TSDoc starts with the variable it is read
 * from and ends with `@default`; defaults written as literals (numbers, quoted strings, Go durations with their ms
 * value, `undefined`, arrays and objects of those) are compared with what {@link loadConfig} returns when the variable
 * is unset.
 */
const FILE = resolve(__dirname, '..', '..', '..', 'config', 'index.ts');
/** The interfaces whose fields are the product's options, and where each sits in the loaded configuration. */
const INTERFACES: Readonly<Record<string, readonly string[]>> = {
  AppConfig: [],
  WorkerConfig: ['worker'],
  WatcherConfig: ['watcher'],
};
/** Fields that are no option: the Temporal connection (read by envconfig) and the start-up warnings. */
const NOT_OPTIONS = new Set(['AppConfig.temporal', 'AppConfig.warnings']);
/** Groups of options: their fields are options, each read from one variable. */
const NESTED = new Set(['AppConfig.local', 'AppConfig.gcs']);
/** The least a valid environment needs: the default provider types include `local`, which needs its root folder. */
const MINIMAL_ENV: NodeJS.ProcessEnv = { BACKUP_LOCAL_DIR: '/srv/backups' };
/** Fields whose default is no literal (computed) or whose variable the minimal environment sets. */
const NOT_CHECKED = ['taskQueue', 'local.rootDir'];

interface Field {
  /** Where the field sits in the loaded configuration, e.g. `gcs.maxWritesPerSecond`. */
  path: string;
  /** The variable the TSDoc names first (`BEL_…`), if any. */
  variable?: string;
  /** The text of the `@default` tag, if any. */
  defaultText?: string;
}

type Default = { value: unknown; ms?: undefined } | { value: number; ms: { text: string; stated?: number } };

function fields(): Field[] {
  const source = ts.createSourceFile(FILE, readFileSync(FILE, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Field[] = [];
  const visit = (owner: string, prefix: readonly string[], members: ts.NodeArray<ts.TypeElement>) => {
    for (const member of members) {
      if (!ts.isPropertySignature(member)) continue;
      const name = member.name.getText(source);
      if (NOT_OPTIONS.has(`${owner}.${name}`)) continue;
      const type = member.type;
      // Another of the interfaces (worker, watcher): its fields are visited from that interface.
      if (type && ts.isTypeReferenceNode(type) && type.typeName.getText(source) in INTERFACES) continue;
      // A nested group (local, gcs): its fields are options, the group itself is none.
      if (type && ts.isTypeLiteralNode(type) && NESTED.has(`${owner}.${name}`)) {
        visit(owner, [...prefix, name], type.members);
        continue;
      }
      const doc = ts.getJSDocCommentsAndTags(member).find(ts.isJSDoc);
      const text = ts.getTextOfJSDocComment(doc?.comment) ?? '';
      const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === 'default');
      const variable = /^`([A-Z][A-Z0-9_]*)`/.exec(text)?.[1];
      out.push({
        path: [...prefix, name].join('.'),
        ...(variable ? { variable } : {}),
        ...(tag ? { defaultText: (ts.getTextOfJSDocComment(tag.comment) ?? '').replace(/\s+/g, ' ').trim() } : {}),
      });
    }
  };
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) && statement.name.text in INTERFACES) {
      visit(statement.name.text, INTERFACES[statement.name.text]!, statement.members);
    }
  }
  return out;
}

/** The value of a literal expression (`'a'`, `1`, `undefined`, `[...]`, `{ k: ... }`), or `NO` when it is none. */
const NO = Symbol('no literal');
function literal(node: ts.Expression): unknown {
  if (ts.isParenthesizedExpression(node)) return literal(node.expression);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isIdentifier(node) && node.text === 'undefined') return undefined;
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (ts.isArrayLiteralExpression(node)) {
    const items = node.elements.map(literal);
    return items.includes(NO) ? NO : items;
  }
  if (ts.isObjectLiteralExpression(node)) {
    const entries = node.properties.map((p) =>
      ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))
        ? ([p.name.text, literal(p.initializer)] as const)
        : ([undefined, NO] as const),
    );
    return entries.some(([, v]) => v === NO) ? NO : Object.fromEntries(entries);
  }
  return NO;
}

/** Parses `source` as one expression; `NO` unless all of it is a literal. */
function parseLiteral(source: string): unknown {
  const file = ts.createSourceFile('default.ts', `(${source});`, ts.ScriptTarget.Latest, true);
  const [statement, ...rest] = file.statements;
  if (!statement || rest.length || !ts.isExpressionStatement(statement)) return NO;
  // A parse error leaves part of the text outside the one parenthesised expression.
  if (statement.expression.getText(file) !== `(${source})`) return NO;
  return literal(statement.expression);
}

/** The literal a `@default` text starts with, or undefined when it starts with prose (a computed default). */
function parseDefault(text: string): Default | undefined {
  // A Go duration, optionally followed by its value in ms: `30s (30 000 ms)`, `72h (259 200 000 ms; ...)`.
  const duration = /^((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)(?=$|[\s(;,])(?:\s*\(\s*(\d[\d\s_,]*?)\s*ms\b)?/.exec(
    text,
  );
  if (duration) {
    const parsed = parseDuration(duration[1]!);
    if (!parsed.ok) throw new Error(`@default ${text}: ${parsed.error.message}`);
    const stated = duration[2] === undefined ? undefined : Number(duration[2].replace(/[\s_,]/g, ''));
    return { value: parsed.value, ms: { text: duration[1]!, ...(stated === undefined ? {} : { stated }) } };
  }
  // A number, a quoted string or `undefined`, ending the text or followed by a remark.
  const scalar = /^(-?\d+(?:\.\d+)?|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|undefined)(?=$|[\s(;,])/.exec(text);
  if (scalar) {
    const value = parseLiteral(scalar[1]!);
    return value === NO ? undefined : { value };
  }
  // An array or object literal: up to its closing bracket (strings in it hold no brackets).
  if (text.startsWith('[') || text.startsWith('{')) {
    let depth = 0;
    for (let i = 0; i < text.length; i += 1) {
      if ('[{'.includes(text[i]!)) depth += 1;
      else if (']}'.includes(text[i]!)) depth -= 1;
      if (depth === 0) {
        const value = parseLiteral(text.slice(0, i + 1));
        return value === NO ? undefined : { value };
      }
    }
  }
  return undefined;
}

function at(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, key) => (o as Record<string, unknown> | undefined)?.[key], config);
}

describe('configuration defaults (config/index.ts @default tags against loadConfig)', () => {
  const all = fields();
  const checked = all
    .filter((f) => f.defaultText !== undefined && !(f.variable && f.variable in MINIMAL_ENV))
    .map((f) => ({ ...f, parsed: parseDefault(f.defaultText!) }))
    .filter((f): f is typeof f & { parsed: Default } => f.parsed !== undefined);

  it('every option field names the variable it is read from and states its default with @default', () => {
    expect(all.length).toBeGreaterThanOrEqual(32);
    const misses = all
      .filter((f) => f.variable === undefined || f.defaultText === undefined)
      .map((f) => `${f.path}: ${f.variable === undefined ? 'no `VARIABLE`: first in its TSDoc' : 'no @default'}`);
    expect(misses).toEqual([]);
  });

  it('the fields name every variable of the schema, each once', () => {
    const named = all.map((f) => f.variable).sort();
    expect(named).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('every @default starts with a literal, except the known computed or required ones', () => {
    const unchecked = all.filter((f) => !checked.some((c) => c.path === f.path)).map((f) => f.path);
    expect(unchecked.sort()).toEqual([...NOT_CHECKED].sort());
  });

  it('the minimal environment is valid', () => {
    expect(() => loadConfig(MINIMAL_ENV)).not.toThrow();
  });

  it.each(checked.map((f) => [f.path, f.variable, f.defaultText!.replace(/\s*\(.*$/, ''), f.parsed] as const))(
    '%s (%s unset) holds its @default %s',
    (path, _variable, _text, parsed) => {
      const config = loadConfig(MINIMAL_ENV);
      if (parsed.ms) {
        // A duration: the stated ms value is the duration's, and the field holds it.
        if (parsed.ms.stated !== undefined) expect(parsed.ms.stated).toBe(parsed.value);
        expect(at(config, path)).toBe(parsed.value);
      } else {
        expect(at(config, path)).toEqual(parsed.value);
      }
    },
  );
});
