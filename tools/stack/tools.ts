import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Paths of the external binaries, as written by `tools/scripts/install-tools.sh` to `<cache>/tools.env`. */
export interface ToolPaths {
  NODE_BIN: string;
  TEMPORAL_CLI: string;
  FAKE_GCS_SERVER: string;
  ETCD: string;
  KUBE_APISERVER: string;
  KUBECTL: string;
}

/** The tool cache folder: `$BEL_CACHE_DIR`, else `$XDG_CACHE_HOME/backupentry-lifecycle`, else `~/.cache/...`. */
export function cacheDir(): string {
  return (
    process.env.BEL_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'backupentry-lifecycle')
  );
}

function readToolsEnv(): Record<string, string> {
  const file = join(cacheDir(), 'tools.env');
  if (!existsSync(file)) throw new Error(`${file} is missing: run tools/scripts/install-tools.sh first`);
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

/** Path of the helm binary (lints and renders the chart in the tests); throws when it is not installed. */
export function helmPath(): string {
  const p = readToolsEnv().HELM;
  if (!p || !existsSync(p))
    throw new Error(
      `HELM (${p ?? 'unset'}) from ${join(cacheDir(), 'tools.env')} does not exist: run tools/scripts/install-tools.sh`,
    );
  return p;
}

/**
 * What the PostgreSQL-backed Temporal (tools/stack/temporal-postgres.ts) needs beyond {@link ToolPaths}: the server
 * built from go.temporal.io/server, temporal-sql-tool and the schema folder it applies, and the machine's PostgreSQL.
 */
export interface TemporalPostgresToolPaths {
  TEMPORAL_SERVER: string;
  TEMPORAL_SQL_TOOL: string;
  /** `<dir>/postgresql/v12/{temporal,visibility}/versioned` from the go.temporal.io/server module. */
  TEMPORAL_SCHEMA_DIR: string;
  /** `/usr/lib/postgresql/<major>/bin` (initdb, postgres, pg_isready, psql). */
  POSTGRES_BIN_DIR: string;
  /** The unprivileged user PostgreSQL runs as when the stack runs as root; empty when install-tools did not run as root. */
  POSTGRES_OS_USER: string;
}

/** Reads {@link TemporalPostgresToolPaths}; throws a message that says which command installs them. */
export function temporalPostgresToolPaths(): TemporalPostgresToolPaths {
  const file = join(cacheDir(), 'tools.env');
  const env = readToolsEnv();
  const paths = {
    TEMPORAL_SERVER: env.TEMPORAL_SERVER,
    TEMPORAL_SQL_TOOL: env.TEMPORAL_SQL_TOOL,
    TEMPORAL_SCHEMA_DIR: env.TEMPORAL_SCHEMA_DIR,
    POSTGRES_BIN_DIR: env.POSTGRES_BIN_DIR,
  };
  for (const [k, p] of Object.entries(paths)) {
    if (!p || !existsSync(p))
      throw new Error(`${k} (${p ?? 'unset'}) from ${file} does not exist: run tools/scripts/install-tools.sh`);
  }
  if (!existsSync(join(paths.POSTGRES_BIN_DIR!, 'postgres')))
    throw new Error(
      `${join(paths.POSTGRES_BIN_DIR!, 'postgres')} does not exist: run tools/scripts/install-tools.sh as root (apt-get install postgresql)`,
    );
  return {
    ...(paths as Omit<TemporalPostgresToolPaths, 'POSTGRES_OS_USER'>),
    POSTGRES_OS_USER: env.POSTGRES_OS_USER ?? '',
  };
}

/** Reads the tool paths; throws a message that says which command installs them. */
export function toolPaths(): ToolPaths {
  const file = join(cacheDir(), 'tools.env');
  const env = readToolsEnv() as Partial<ToolPaths>;
  const keys: (keyof ToolPaths)[] = [
    'NODE_BIN',
    'TEMPORAL_CLI',
    'FAKE_GCS_SERVER',
    'ETCD',
    'KUBE_APISERVER',
    'KUBECTL',
  ];
  for (const k of keys) {
    const p = env[k];
    if (!p || !existsSync(p))
      throw new Error(`${k} (${p ?? 'unset'}) from ${file} does not exist: run tools/scripts/install-tools.sh`);
  }
  return env as ToolPaths;
}
