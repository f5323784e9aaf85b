import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_CODE } from './workflow-code';

/**
 * Prebuilds the workflow bundle for production workers (`BEL_WORKFLOW_BUNDLE=dist/workflow-bundle.js`), with the same
 * @temporalio/worker version the worker runs, so a worker does not run webpack at start.
 */
async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..');
  const { code } = await bundleWorkflowCode({ ...WORKFLOW_CODE });
  const out = join(root, 'dist', 'workflow-bundle.js');
  writeFileSync(out, code);
  process.stdout.write(`workflow bundle written to ${out} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bundling the workflows failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
