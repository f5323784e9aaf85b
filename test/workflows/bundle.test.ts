import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
const root = resolve(__dirname, '..', '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('workflow code stays deterministic', () => {
  it('bundles workflows/ with the SDK bundler, which rejects Node builtins', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: join(root, 'workflows'), logger: quiet });
    expect(code.length).toBeGreaterThan(1000);
  });

  it('the bundler does reject a workflow that imports a Node builtin (negative control)', async () => {
    await expect(
      bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/uses-node-fs'), logger: quiet }),
    ).rejects.toThrow(/Webpack finished with errors/);
  });

  it('workflows/ and domain/ import only the workflow SDK, each other, and activity types', () => {
    const allowedPackages = new Set(['@temporalio/workflow', '@temporalio/common']);
    const offences: string[] = [];
    for (const file of [...tsFiles(join(root, 'workflows')), ...tsFiles(join(root, 'domain'))]) {
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const [, , typeOnly, spec] = m as unknown as [string, string, string | undefined, string];
        const where = relative(root, file);
        if (spec.startsWith('.')) {
          const target = relative(root, resolve(file, '..', spec)).split('/')[0];
          if (target === 'activities' && typeOnly) continue;
          const fromDomain = where.startsWith('domain/');
          if (fromDomain ? target !== 'domain' : !['workflows', 'domain'].includes(target ?? ''))
            offences.push(`${where}: ${spec}`);
        } else if (where.startsWith('domain/') || !allowedPackages.has(spec)) {
          offences.push(`${where}: ${spec}`);
        }
      }
    }
    expect(offences).toEqual([]);
  });
});
