import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_CODE } from '../worker/workflow-code';

/**
 * Prebuilds the workflow bundle for production workers (`BEL_WORKFLOW_BUNDLE=dist/workflow-bundle.js`), with the same
 * @temporalio/worker version the worker runs, so a worker does not run webpack at start.
 */
async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..');
  const { code } = await bundleWorkflowCode({ ...WORKFLOW_CODE });
  const out = join(root, 'dist', 'workflow-bundle.js');
  writeFileSync(out, code);
  console.log(`workflow bundle written to ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: unknown) => {
  console.error('bundling the workflows failed:', err);
  process.exit(1);
});
