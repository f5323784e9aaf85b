#!/usr/bin/env node
/**
 * `backupentry`: the operators' CLI (docs/design.md §1). `npm run cli -- <verb>` or the package's `bin`. Verbs: list, status,
 * expedite, cancel-cleanup, extend; `--help` on each. Connects with the worker's envconfig variables. Exit codes:
 * 0 done, 1 failed, 2 refused (the reason is printed on stderr). The logic lives in `cli/` (testable functions).
 */
import { runCli } from './cli/program';

export { runCli } from './cli/program';

if (require.main === module) {
  runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`backupentry: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
