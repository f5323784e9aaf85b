import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { CONFIG_VARIABLES } from '../../../config';

const ROOT = resolve(__dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), each with its stage index. */
function instructions(): Instruction[] {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  let stage = -1;
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      if (op!.toUpperCase() === 'FROM') stage += 1;
      return { op: op!.toUpperCase(), args: rest.join(' '), stage };
    });
}

/** `.dockerignore` patterns (top-level names only, which is all this project uses). */
function ignored(path: string): boolean {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const first = path.split('/')[0]!;
  return patterns.some((p) => p === first || p === path || (p.startsWith('*.') && path.endsWith(p.slice(1))));
}

/**
 * Follows the runtime imports (`require` after TypeScript's own transpilation, so type-only imports are gone) from
 * the entry points; returns the repository files reached and the packages they load.
 */
function runtimeGraph(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    for (const [, spec] of js.matchAll(/require\("([^"]+)"\)/g)) {
      if (spec!.startsWith('.')) {
        const base = resolve(dirname(file), spec!);
        const target = [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p) && statSync(p).isFile());
        if (!target) throw new Error(`${relative(ROOT, file)}: cannot resolve ${spec}`);
        queue.push(target);
      } else {
        packages.add(spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!);
      }
    }
  }
  return { files, packages };
}

describe('Dockerfile', () => {
  const ins = instructions();
  const finalStage = Math.max(...ins.map((i) => i.stage));

  it('every stage is Node 24 slim; the final stage runs as a numeric non-root user with production settings', () => {
    const arg = ins.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))!;
    expect(arg.args).toMatch(/^NODE_IMAGE=node:24-[a-z]+-slim$/);
    for (const from of ins.filter((i) => i.op === 'FROM')) expect(from.args).toMatch(/^\$\{NODE_IMAGE\}( AS \w+)?$/);
    const user = ins.filter((i) => i.stage === finalStage && i.op === 'USER').at(-1)!;
    expect(user.args).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const env = ins
      .filter((i) => i.stage === finalStage && i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toContain('NODE_ENV=production');
    expect(env).toContain('BEL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js');
    const depsInstall = ins.find((i) => i.op === 'RUN' && i.args.includes('npm ci') && i.args.includes('--omit=dev'));
    expect(depsInstall).toBeDefined();
    // The final stage takes node_modules from the production-only stage, never from the build stage.
    const fromStages = ins.filter((i) => i.stage === finalStage && i.op === 'COPY' && i.args.includes('node_modules'));
    expect(fromStages.map((i) => i.args)).toEqual(['--from=deps /app/node_modules ./node_modules']);
  });

  it('copies only files that exist and that .dockerignore keeps in the build context', () => {
    const copies = ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(5);
    for (const c of copies) {
      const parts = c.args.split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        expect([src, existsSync(join(ROOT, src))]).toEqual([src, true]);
        expect([src, ignored(src)]).toEqual([src, false]);
      }
    }
  });

  it('compiles what it runs: the entry points are in tsconfig.image.json, whose folders the Dockerfile copies', () => {
    const tsconfig = ts.readConfigFile(join(ROOT, 'tsconfig.image.json'), ts.sys.readFile).config as {
      include: string[];
    };
    const copied = ins
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .map((i) => i.args.split(/\s+/)[0]!);
    for (const inc of tsconfig.include) expect([inc, copied.includes(inc)]).toEqual([inc, true]);
    const run = ins
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(run).toContain('tsc -p tsconfig.image.json');
    expect(run).toContain('node dist/worker/build-workflow-bundle.js');
    const cmd = ins.find((i) => i.stage === finalStage && i.op === 'CMD')!;
    expect(JSON.parse(cmd.args)).toEqual(['dist/worker/main.js']);
  });

  it('the worker, the watcher and the CLI import production dependencies only, and only shipped folders', () => {
    const entries = ['worker/main.ts', 'starter/watcher.ts', 'starter/cli.ts'].map((f) => join(ROOT, f));
    const { files, packages } = runtimeGraph(entries);
    const tsconfig = ts.readConfigFile(join(ROOT, 'tsconfig.image.json'), ts.sys.readFile).config as {
      include: string[];
    };
    for (const f of files) {
      const rel = relative(ROOT, f);
      expect([rel, tsconfig.include.some((inc) => rel === inc || rel.startsWith(`${inc}/`))]).toEqual([rel, true]);
    }
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const notProd = [...packages].filter((p) => !builtins.has(p) && !(p in pkg.dependencies));
    expect(notProd).toEqual([]);
    expect(files.size).toBeGreaterThan(20);
    expect([...packages]).toEqual(
      expect.arrayContaining(['@temporalio/worker', '@kubernetes/client-node', 'prom-client', 'pino']),
    );
  });

  it('sets no configuration variable that does not exist', () => {
    const env = ins
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    for (const [, name] of env.matchAll(/\b(BEL_\w+)=/g))
      expect([name, CONFIG_VARIABLES.includes(name!)]).toEqual([name, true]);
  });
});

describe('README', () => {
  it('documents every configuration variable in its table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const missing = CONFIG_VARIABLES.filter((v) => !new RegExp(`^\\|[^\\n]*\`${v}\``, 'm').test(readme));
    expect(missing).toEqual([]);
  });
});
