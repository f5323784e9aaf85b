/**
 * The CLI's argument parsing (commander) and its one entry point {@link runCli}: parses `argv`, connects to Temporal
 * with the same envconfig variables as the worker (unless given a client), runs the verb from `commands.ts` and maps
 * every outcome to an exit code (0 done, 1 failed, 2 refused or invalid usage).
 */
import { Client, Connection } from '@temporalio/client';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadCliConfig } from '../../config';
import { Phase, parseDuration } from '../../domain';
import {
  type CliContext,
  type OutputFormat,
  type OutputStream,
  cancelCleanupEntry,
  entryStatus,
  expediteEntry,
  extendEntry,
  listEntries,
  parsePhase,
} from './commands';
import { CliError, ExitCode, failed, refused } from './errors';
import { shown } from './format';

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Results (tables, status, JSON). */
  out: OutputStream;
  /** Refusals, errors, help after a usage error, progress of long waits. */
  err: OutputStream;
  /**
   * Environment to read the configuration from (through config/).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Use this client instead of connecting (tests, embedding); it is not closed.
   * @default undefined (connects to Temporal per the configuration and closes the connection when done)
   */
  client?: Client;
  /**
   * Interval of progress lines during long waits.
   * @default 5000 (5 s)
   */
  progressIntervalMs?: number;
}

const EXAMPLE_ENTRY = 'shoot--dev--demo--5b3e9d6c-0f0e-4d8a-9a53-2f3c1f2b7e41';

const ENVIRONMENT_HELP = `
Connection and identity (the same variables as the worker):
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE  (@temporalio/envconfig)
  BEL_CLUSTER_IDENTITY  seed name in workflow IDs backupentry/<identity>/<entry> (default local-seed)
  BEL_CLI_TIMEOUT       how long to wait for the worker to answer (default 60s)
  USER                  default for --by / --as (else "unknown")

Exit codes: 0 done, 1 failed (Temporal unreachable, unknown entry, no answer), 2 refused (the workflow said no, or
invalid arguments; the reason is printed on stderr).`;

/** Builds the `backupentry` command tree; each verb's action runs `run(ctx => ...)` with a connected context. */
export function buildProgram(
  io: Pick<RunCliOptions, 'out' | 'err'>,
  run: (fn: (ctx: CliContext) => Promise<unknown>) => Promise<void>,
): Command {
  const program = new Command('backupentry')
    .description(
      'Inspect and steer BackupEntry workflows (backupentry-lifecycle): list, status, expedite, cancel-cleanup, extend.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .addHelpText('after', ENVIRONMENT_HELP);
  const output = (): Option =>
    new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
  const fmt = (o: { output?: string }): OutputFormat => (o.output === 'json' ? 'json' : 'table');

  program
    .command('list')
    .description(
      'List BackupEntry workflows of this seed from Temporal visibility: entry, type, phase, bucket, deletion due.',
    )
    .addOption(
      new Option('-p, --phase <phase>', 'only entries in this phase')
        .choices(Object.values(Phase))
        .argParser(parsePhase),
    )
    .addOption(
      new Option(
        '--due-within <duration>',
        'only retaining entries whose deletion is due within this Go duration (overdue ones included), soonest first',
      )
        .argParser(dueDuration)
        .conflicts(['phase', 'overdue']),
    )
    .addOption(
      new Option(
        '--overdue',
        'only retaining entries whose deadline has passed without the deletion starting, most overdue first',
      ).conflicts(['phase', 'dueWithin']),
    )
    .option('--running', 'only running workflows (default: also finished ones)')
    .option('--all-clusters', 'include workflows of other seeds (other BEL_CLUSTER_IDENTITY values) in the namespace')
    .addOption(new Option('--limit <n>', 'at most this many rows').default(1000).argParser(positiveInt))
    .addOption(output())
    .addHelpText(
      'after',
      `
Examples:
  $ backupentry list                          # every entry of this seed, newest first
  $ backupentry list --phase Retaining        # what will be deleted, and when
  $ backupentry list --due-within 24h         # the retention calendar of the next day, soonest first
  $ backupentry list --overdue                # deadline passed, deletion not started (see docs/runbook.md)
  $ backupentry list --phase Retaining -o json | jq -r '.[] | [.entry, .deletionDue] | @tsv'`,
    )
    .action(
      (o: {
        phase?: Phase;
        dueWithin?: number;
        overdue?: boolean;
        running?: boolean;
        allClusters?: boolean;
        limit: number;
        output?: string;
      }) =>
        run((ctx) =>
          listEntries(ctx, {
            ...(o.phase ? { phase: o.phase } : {}),
            ...(o.dueWithin !== undefined ? { dueWithinMs: o.dueWithin } : {}),
            overdue: !!o.overdue,
            running: !!o.running,
            allClusters: !!o.allClusters,
            limit: o.limit,
            output: fmt(o),
          }),
        ),
    );

  program
    .command('status')
    .description(
      "Show an entry's story: phase, deletion deadline, inventory, last operation, deletion progress or receipt, decisions (who and why).",
    )
    .argument('<entry>', 'BackupEntry name')
    .addOption(output())
    .addHelpText(
      'after',
      `
Examples:
  $ backupentry status ${EXAMPLE_ENTRY}
  $ backupentry status ${EXAMPLE_ENTRY} -o json | jq .view.deletionScheduledAt`,
    )
    .action((entry: string, o: { output?: string }) => run((ctx) => entryStatus(ctx, entry, { output: fmt(o) })));

  program
    .command('expedite')
    .description(
      'End the retention period of a deleted entry now: its backups are deleted right away. Refused (exit 2) unless the entry is retaining.',
    )
    .argument('<entry>', 'BackupEntry name')
    .requiredOption('-r, --reason <text>', 'why (recorded in the decision log)')
    .option('--by <who>', 'who asks (recorded; default $USER)')
    .option('-w, --wait', 'wait until the backups are deleted, showing progress')
    .addOption(output())
    .addHelpText(
      'after',
      `
Examples:
  $ backupentry expedite ${EXAMPLE_ENTRY} --reason "shoot recreated, old backups useless"
  $ backupentry expedite ${EXAMPLE_ENTRY} --reason "GDPR request #123" --by alice --wait
Same as annotating the entry: kubectl annotate backupentry <entry> backupentry.core.gardener.cloud/force-deletion=true`,
    )
    .action((entry: string, o: { reason: string; by?: string; wait?: boolean; output?: string }) =>
      run((ctx) =>
        expediteEntry(ctx, entry, { reason: o.reason, ...(o.by ? { by: o.by } : {}), wait: !!o.wait, output: fmt(o) }),
      ),
    );

  program
    .command('cancel-cleanup')
    .description(
      'Keep every backup object of a deleted entry: release the finalizers and end its workflow as Kept. Refused (exit 2) unless it is retaining or deleting.',
    )
    .argument('<entry>', 'BackupEntry name')
    .requiredOption('-r, --reason <text>', 'why (recorded in the decision log)')
    .option('--by <who>', 'who asks (recorded; default $USER)')
    .option('-w, --wait', 'wait until the workflow has ended Kept')
    .addOption(output())
    .addHelpText(
      'after',
      `
Examples:
  $ backupentry cancel-cleanup ${EXAMPLE_ENTRY} --reason "deleted by mistake; restore from these backups"
Same as annotating the entry: kubectl annotate backupentry <entry> backupentry.extensions.gardener.cloud/keep-backups=true`,
    )
    .action((entry: string, o: { reason: string; by?: string; wait?: boolean; output?: string }) =>
      run((ctx) =>
        cancelCleanupEntry(ctx, entry, {
          reason: o.reason,
          ...(o.by ? { by: o.by } : {}),
          wait: !!o.wait,
          output: fmt(o),
        }),
      ),
    );

  program
    .command('extend')
    .description('Move the retention deadline of a deleted entry later (never earlier). Give --by or --until.')
    .argument('<entry>', 'BackupEntry name')
    .addOption(
      new Option('--by <duration>', 'later by this Go duration from the current deadline, e.g. 24h, 1h30m').conflicts(
        'until',
      ),
    )
    .addOption(
      new Option('--until <time>', 'new deadline as an RFC3339 time, e.g. 2026-12-01T00:00:00Z').conflicts('by'),
    )
    .requiredOption('-r, --reason <text>', 'why (recorded in the decision log)')
    .option('--as <who>', 'who asks (recorded; default $USER); --by is the duration here')
    .addOption(output())
    .addHelpText(
      'after',
      `
Examples:
  $ backupentry extend ${EXAMPLE_ENTRY} --by 24h --reason "audit needs the backups until Monday"
  $ backupentry extend ${EXAMPLE_ENTRY} --until 2026-12-01T00:00:00Z --reason "legal hold" --as alice
An earlier deadline is refused (exit 2). kubectl: raise backupentry.extensions.gardener.cloud/retention-period.`,
    )
    .action((entry: string, o: { by?: string; until?: string; reason: string; as?: string; output?: string }) =>
      run((ctx) =>
        extendEntry(ctx, entry, {
          reason: o.reason,
          ...(o.by !== undefined ? { by: o.by } : {}),
          ...(o.until !== undefined ? { until: o.until } : {}),
          ...(o.as ? { as: o.as } : {}),
          output: fmt(o),
        }),
      ),
    );

  return program;
}

/** `--due-within`: a Go duration (e.g. `24h`, `90m`), in milliseconds; a refusal (exit 2) otherwise. */
function dueDuration(text: string): number {
  const d = parseDuration(text);
  if (!d.ok) throw refused(`--due-within: ${d.error.message}`);
  return d.value;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw refused(`--limit must be a positive integer, not "${text}"`);
  return n;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name) and resolves to the exit code; never throws and
 * never exits the process. Messages for failures and refusals go to `err` as one line (no stack trace).
 */
export async function runCli(argv: readonly string[], opts: RunCliOptions): Promise<number> {
  let code: number = ExitCode.Ok;
  const run = async (fn: (ctx: CliContext) => Promise<unknown>): Promise<void> => {
    const config = loadCliConfig(opts.env);
    let connection: Connection | undefined;
    let client = opts.client;
    if (!client) {
      connection = await Connection.connect(config.temporal.connect.connectionOptions).catch((e: unknown) => {
        throw failed(
          `cannot reach Temporal at ${config.temporal.address}: ${e instanceof Error ? e.message : String(e)} ` +
            '(set TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, or a profile, as for the worker)',
        );
      });
      client = new Client({ connection, namespace: config.temporal.namespace });
    }
    try {
      await fn({
        client,
        clusterIdentity: config.clusterIdentity,
        user: config.user,
        timeoutMs: config.timeoutMs,
        out: opts.out,
        err: opts.err,
        ...(opts.progressIntervalMs ? { progressIntervalMs: opts.progressIntervalMs } : {}),
      });
    } finally {
      await connection?.close();
    }
  };
  try {
    await buildProgram(opts, run).parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with exit code 0; any usage error is a refusal of the request as given.
      code = e.exitCode === 0 ? ExitCode.Ok : ExitCode.Refused;
    } else if (e instanceof CliError) {
      // One line, whatever a workflow's or provider's text inside it holds (each verb filters those already).
      opts.err.write(`backupentry: ${shown(e.message, 4000)}\n`);
      code = e.exitCode;
    } else if (e instanceof ConfigError) {
      opts.err.write(`backupentry: ${e.message}\n`);
      code = ExitCode.Failed;
    } else {
      opts.err.write(`backupentry: ${shown(e instanceof Error ? e.message : String(e), 4000)}\n`);
      code = ExitCode.Failed;
    }
  }
  return code;
}
