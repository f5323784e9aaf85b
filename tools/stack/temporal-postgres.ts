import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_CLI_TYPE } from './temporal';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { freePort } from './ports';
import { startProcess, stopProcess, type ManagedProcess } from './processes';
import type { TemporalPostgresToolPaths } from './tools';
import { logTail, waitFor } from './wait';

const run = promisify(execFile);

/**
 * A production-shaped Temporal: `temporal-server start` (go.temporal.io/server, the server version of the CLI's dev
 * server) on PostgreSQL, with SQL visibility, 16 history shards, the `default` namespace and our search attributes.
 */
export interface TemporalPostgresServer {
  /** The `temporal-server start` process (frontend, history, matching and worker services in one process). */
  process: ManagedProcess;
  /** The PostgreSQL server that holds the `temporal` and `temporal_visibility` databases. */
  postgres: ManagedProcess;
  /** gRPC address of the frontend, `127.0.0.1:<port>`. */
  address: string;
  namespace: string;
  /** No Web UI: the server has none of its own (the dev server embeds one). */
  uiUrl?: undefined;
  /** PostgreSQL on `127.0.0.1:<port>`, superuser `temporal` (trust authentication on loopback). */
  sql: { host: string; port: number; user: string; databases: { temporal: string; visibility: string } };
  /** Runs one SQL statement with the machine's psql and returns its unaligned, tuples-only output (tests inspect it). */
  psql(database: string, statement: string): Promise<string>;
  /** How long each start step took, in ms (the test reports them). */
  timings: { postgres: number; schema: number; server: number; namespace: number; total: number };
  stop(): Promise<void>;
}

/** Options of {@link startTemporalPostgres}. */
export interface TemporalPostgresOptions {
  tools: TemporalPostgresToolPaths;
  /** The Temporal CLI (`temporal operator ...` registers the namespace and the search attributes). */
  temporalCli: string;
  /** Folder for logs and the server's config; PostgreSQL's data lives in a private temp folder (removed on stop). */
  dir: string;
  /** @default 'default' */
  namespace?: string;
  /** Retention of closed workflows in the namespace (Go duration). @default '72h' */
  retention?: string;
  /** @default 16 */
  historyShards?: number;
  log?: (msg: string) => void;
}

const SQL_USER = 'temporal';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

/**
 * Starts PostgreSQL (the machine's, in a fresh data folder on a free port; as an unprivileged user when this process
 * is root, since initdb and postgres refuse root), creates and migrates both databases with temporal-sql-tool from the
 * schema folder shipped in the tool cache, starts `temporal-server start` with a generated config, waits for the
 * frontend, and registers the namespace and the search attributes the way docker-compose.yml does (`temporal
 * operator ...`). Everything started is stopped again when a step fails.
 */
export async function startTemporalPostgres(opts: TemporalPostgresOptions): Promise<TemporalPostgresServer> {
  const t0 = Date.now();
  const namespace = opts.namespace ?? 'default';
  const log = opts.log;
  const { tools } = opts;
  mkdirSync(opts.dir, { recursive: true });
  const root = process.getuid?.() === 0;
  if (root && (!tools.POSTGRES_OS_USER || !SETPRIV))
    throw new Error(
      'PostgreSQL refuses to run as root: run tools/scripts/install-tools.sh (it names POSTGRES_OS_USER) and install setpriv (util-linux)',
    );
  const runAs = root ? { name: tools.POSTGRES_OS_USER!, ...osUser(tools.POSTGRES_OS_USER!) } : undefined;
  // Not under opts.dir: that folder is private to this (root) process, and postgres runs as another user.
  const pgRoot = mkdtempSync(join(tmpdir(), 'bel-pg-'));
  if (runAs) chownSync(pgRoot, runAs.uid, runAs.gid);
  const pgData = join(pgRoot, 'data');
  const asPgUser = (bin: string, args: string[]): [string, string[]] =>
    runAs
      ? // PR_SET_PDEATHSIG is cleared when the uid changes: set it again after the switch (processes.ts sets it first).
        [
          SETPRIV!,
          ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--clear-groups', '--', SETPRIV!].concat([
            '--pdeathsig',
            'KILL',
            '--',
            bin,
            ...args,
          ]),
        ]
      : [bin, args];
  const pgBin = (name: string): string => join(tools.POSTGRES_BIN_DIR, name);
  const started: ManagedProcess[] = [];
  const stopAll = async (): Promise<void> => {
    const [pg, server] = [started[0], started[1]];
    if (server) await stopProcess(server);
    if (pg) {
      // SIGINT is PostgreSQL's fast shutdown (SIGTERM, which stopProcess sends, waits for clients to leave).
      if (!pg.exited && pg.child.pid !== undefined) process.kill(pg.child.pid, 'SIGINT');
      await stopProcess(pg);
    }
    rmSync(pgRoot, { recursive: true, force: true });
  };
  try {
    // --- PostgreSQL --------------------------------------------------------------------------------------------
    let t = Date.now();
    const [initCmd, initArgs] = asPgUser(pgBin('initdb'), [
      '-D',
      pgData,
      '-U',
      SQL_USER,
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    await run(initCmd, initArgs, { cwd: pgRoot }).catch((e: { stderr?: string; message: string }) => {
      throw new Error(`initdb failed${runAs ? ` (as ${runAs.name})` : ''}: ${e.stderr || e.message}`);
    });
    const pgPort = await freePort();
    // fsync off: a test database on a shared machine; nothing here survives a machine crash anyway.
    const [pgCmd, pgArgs] = asPgUser(pgBin('postgres'), [
      '-D',
      pgData,
      '-p',
      String(pgPort),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    log?.(`starting postgresql on 127.0.0.1:${pgPort}${runAs ? ` as ${runAs.name}` : ''}`);
    const pg = startProcess('postgres', pgCmd, pgArgs, join(opts.dir, 'postgres.log'));
    started.push(pg);
    await waitFor(
      async () =>
        run(pgBin('pg_isready'), [
          '-q',
          '-h',
          '127.0.0.1',
          '-p',
          String(pgPort),
          '-U',
          SQL_USER,
          '-d',
          'postgres',
        ]).then(() => true),
      { what: `postgresql on 127.0.0.1:${pgPort}`, process: pg, timeoutMs: 60_000, intervalMs: 100 },
    );
    const postgresMs = Date.now() - t;

    // --- schemas -----------------------------------------------------------------------------------------------
    t = Date.now();
    const sqlLog = join(opts.dir, 'temporal-sql-tool.log');
    const sqlTool = async (db: string, ...args: string[]): Promise<void> => {
      const base = ['--plugin', 'postgres12', '--endpoint', '127.0.0.1', '--port', String(pgPort)];
      const all = [...base, '--user', SQL_USER, '--password', SQL_USER, '--database', db, ...args];
      try {
        const r = await run(tools.TEMPORAL_SQL_TOOL, all);
        appendFileSync(sqlLog, `$ temporal-sql-tool ${all.join(' ')}\n${r.stdout}${r.stderr}`);
      } catch (e) {
        const { stdout = '', stderr = '' } = e as { stdout?: string; stderr?: string };
        appendFileSync(sqlLog, `$ temporal-sql-tool ${all.join(' ')}\n${stdout}${stderr}`);
        throw new Error(`temporal-sql-tool ${args[0]} on ${db} failed; log ${sqlLog}:\n${logTail(sqlLog)}`);
      }
    };
    const schema = join(tools.TEMPORAL_SCHEMA_DIR, 'postgresql', 'v12');
    await Promise.all(
      (
        [
          [DATABASES.temporal, join(schema, 'temporal', 'versioned')],
          [DATABASES.visibility, join(schema, 'visibility', 'versioned')],
        ] as const
      ).map(async ([db, versioned]) => {
        await sqlTool(db, 'create-database');
        await sqlTool(db, 'setup-schema', '-v', '0.0');
        await sqlTool(db, 'update-schema', '-d', versioned);
      }),
    );
    const schemaMs = Date.now() - t;

    // --- server ------------------------------------------------------------------------------------------------
    t = Date.now();
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const rpc = {
      frontend: { grpcPort: port, membershipPort: await membershipPort(), httpPort: await freePort() },
      history: { grpcPort: await freePort(), membershipPort: await membershipPort() },
      matching: { grpcPort: await freePort(), membershipPort: await membershipPort() },
      worker: { grpcPort: await freePort(), membershipPort: await membershipPort() },
    };
    const configDir = join(opts.dir, 'config');
    mkdirSync(configDir, { recursive: true });
    const dynamicConfig = join(configDir, 'dynamicconfig.yaml');
    writeFileSync(
      dynamicConfig,
      [
        '# Workflow and run IDs are VARCHAR(255) in the SQL schemas: reject longer ones at the frontend (as the',
        "# server's own development-sql dynamic config does) instead of failing in the database.",
        'limit.maxIDLength:',
        '  - value: 255',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(configDir, 'development.yaml'),
      serverConfig({ pgPort, shards: opts.historyShards ?? 16, rpc, address, dynamicConfig }),
    );
    log?.(`starting temporal-server on ${address} (postgresql 127.0.0.1:${pgPort}, SQL visibility)`);
    const server = startProcess(
      'temporal-server',
      tools.TEMPORAL_SERVER,
      ['--root', opts.dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      join(opts.dir, 'temporal-server.log'),
    );
    started.push(server);
    const conn = await waitFor(() => Connection.connect({ address, connectTimeout: 2000 }), {
      what: `temporal-server at ${address}`,
      process: server,
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    try {
      await waitFor(
        async () => {
          const r = await conn.healthService.check({});
          return r.status === 1; // SERVING
        },
        { what: `temporal-server at ${address} healthy`, process: server, timeoutMs: 120_000, intervalMs: 250 },
      );
      const serverMs = Date.now() - t;

      // --- namespace and search attributes (docker-compose.yml's temporal-search-attributes step) ----------------
      t = Date.now();
      const cli = async (...args: string[]): Promise<string> =>
        (await run(opts.temporalCli, [...args, '--address', address], { timeout: 30_000 })).stdout;
      await waitFor(
        () =>
          cli('operator', 'namespace', 'create', '--namespace', namespace, '--retention', opts.retention ?? '72h').then(
            () => true,
            async (e: { stderr?: string }) => {
              if (/already (exists|registered)/i.test(e.stderr ?? '')) return true;
              throw new Error(e.stderr);
            },
          ),
        { what: `namespace ${namespace}`, process: server, timeoutMs: 60_000, intervalMs: 250 },
      );
      for (const key of SEARCH_ATTRIBUTES) {
        const type = SEARCH_ATTRIBUTE_CLI_TYPE[key.type];
        if (!type) throw new Error(`no CLI type for search attribute ${key.name} (${key.type})`);
        await waitFor(
          () =>
            cli('operator', 'search-attribute', 'create', '--namespace', namespace, '--name', key.name, '--type', type),
          { what: `search attribute ${key.name}`, process: server, timeoutMs: 60_000, intervalMs: 250 },
        );
      }
      // The frontend learns a namespace's SQL column mapping of custom attributes through its namespace cache: ready
      // once a visibility query by every attribute is accepted.
      const client = new Client({ connection: conn, namespace });
      const probe = SEARCH_ATTRIBUTES.map((k) =>
        k.type === SearchAttributeType.DATETIME ? `${k.name} < "2000-01-01T00:00:00Z"` : `${k.name} = "probe"`,
      ).join(' OR ');
      await waitFor(async () => (await client.workflow.count(probe)).count === 0, {
        what: `visibility queries by ${SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')}`,
        process: server,
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      const namespaceMs = Date.now() - t;
      const timings = { postgres: postgresMs, schema: schemaMs, server: serverMs, namespace: namespaceMs };
      log?.(`temporal-server on postgresql ready in ${Date.now() - t0} ms (${JSON.stringify(timings)})`);
      return {
        process: server,
        postgres: pg,
        address,
        namespace,
        sql: { host: '127.0.0.1', port: pgPort, user: SQL_USER, databases: { ...DATABASES } },
        psql: async (database, statement) =>
          (
            await run(pgBin('psql'), [
              ...['-h', '127.0.0.1', '-p', String(pgPort), '-U', SQL_USER, '-d', database],
              ...['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', statement],
            ])
          ).stdout.trim(),
        timings: { ...timings, total: Date.now() - t0 },
        stop: stopAll,
      };
    } finally {
      await conn.close();
    }
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}

function serverConfig(o: {
  pgPort: number;
  shards: number;
  rpc: Record<
    'frontend' | 'history' | 'matching' | 'worker',
    { grpcPort: number; membershipPort: number; httpPort?: number }
  >;
  address: string;
  dynamicConfig: string;
}): string {
  const store = (db: string, conns: number): string[] => [
    `      sql:`,
    `        pluginName: postgres12`,
    `        databaseName: ${db}`,
    `        connectAddr: "127.0.0.1:${o.pgPort}"`,
    `        connectProtocol: tcp`,
    `        user: ${SQL_USER}`,
    `        password: ${SQL_USER}`,
    `        maxConns: ${conns}`,
    `        maxIdleConns: ${conns}`,
    `        maxConnLifetime: 1h`,
  ];
  const services = Object.entries(o.rpc).flatMap(([name, r]) => [
    `  ${name}:`,
    `    rpc:`,
    `      grpcPort: ${r.grpcPort}`,
    `      membershipPort: ${r.membershipPort}`,
    `      bindOnLocalHost: true`,
    ...(r.httpPort ? [`      httpPort: ${r.httpPort}`] : []),
  ]);
  return [
    '# Written by tools/stack/temporal-postgres.ts: one temporal-server process with every service, on PostgreSQL.',
    'log:',
    '  stdout: true',
    '  level: warn',
    '  format: json',
    'persistence:',
    '  defaultStore: postgres-default',
    '  visibilityStore: postgres-visibility',
    `  numHistoryShards: ${o.shards}`,
    '  datastores:',
    '    postgres-default:',
    ...store(DATABASES.temporal, 20),
    '    postgres-visibility:',
    ...store(DATABASES.visibility, 10),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    '    broadcastAddress: 127.0.0.1',
    'services:',
    ...services,
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: frontend',
    `      rpcAddress: "${o.address}"`,
    'dcRedirectionPolicy:',
    '  policy: noop',
    'archival:',
    '  history:',
    '    state: disabled',
    '  visibility:',
    '    state: disabled',
    'namespaceDefaults:',
    '  archival:',
    '    history:',
    '      state: disabled',
    '    visibility:',
    '      state: disabled',
    'dynamicConfigClient:',
    `  filepath: ${o.dynamicConfig}`,
    '  pollInterval: 10s',
    '',
  ].join('\n');
}

/** uid and gid of a local user (`id -u` / `id -g`). */
function osUser(name: string): { uid: number; gid: number } {
  const read = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { uid: read('-u'), gid: read('-g') };
}

const membershipHandedOut = new Set<number>();

/**
 * A free port below 32768 for a membership (ringpop) listener: the server records it in cluster_membership.rpc_port,
 * a SMALLINT in the PostgreSQL schema, and fails at start ("value ... is out of range for type smallint") for ports
 * from the kernel's ephemeral range (32768-60999 on Linux), which is where {@link freePort} finds its ports.
 */
async function membershipPort(): Promise<number> {
  for (let i = 0; i < 200; i += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (membershipHandedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) {
      membershipHandedOut.add(port);
      return port;
    }
  }
  throw new Error('no free TCP port below 32768 on 127.0.0.1 after 200 tries');
}
