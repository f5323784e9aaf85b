import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { freePort } from './ports';
import { startProcess, stopProcess, type ManagedProcess } from './processes';
import { waitFor } from './wait';

/** A running `temporal server start-dev` with the project's search attributes registered. */
export interface TemporalDevServer {
  process: ManagedProcess;
  /** gRPC address `127.0.0.1:<port>`. */
  address: string;
  namespace: string;
  /** Web UI base URL, e.g. `http://127.0.0.1:<port>`. */
  uiUrl: string;
  stop(): Promise<void>;
}

/** Options of {@link startTemporalDevServer}. */
export interface TemporalOptions {
  temporalBin: string;
  dir: string;
  /** @default 'default' */
  namespace?: string;
  /** SQLite file that survives restarts; in memory when unset. */
  dbFile?: string;
  /** Fixed ports, e.g. to restart a server on the same address; free ports when unset. */
  port?: number;
  uiPort?: number;
  log?: (msg: string) => void;
}

/** The `temporal` CLI's name of each search attribute type (`--search-attribute name=Type`). */
export const SEARCH_ATTRIBUTE_CLI_TYPE: Partial<Record<string, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

/**
 * Starts the Temporal CLI's dev server (server + embedded Web UI) on free ports with our search attributes.
 * Started directly instead of through TestWorkflowEnvironment.createLocal, whose 5 s readiness limit is too short on a
 * busy 2-core machine; tests attach with createFromExistingServer.
 */
export async function startTemporalDevServer(opts: TemporalOptions): Promise<TemporalDevServer> {
  const namespace = opts.namespace ?? 'default';
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort ?? (await freePort());
  const [httpPort, metricsPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    '--log-format',
    'json',
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${SEARCH_ATTRIBUTE_CLI_TYPE[k.type]}`]),
  ];
  opts.log?.(`starting temporal dev server on ${address}, Web UI on http://127.0.0.1:${uiPort}`);
  const proc = startProcess('temporal', opts.temporalBin, args, join(opts.dir, 'temporal.log'));
  await waitFor(
    async () => {
      const conn = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await conn.workflowService.describeNamespace({ namespace });
        return true;
      } finally {
        await conn.close();
      }
    },
    { what: `temporal dev server at ${address}`, process: proc, timeoutMs: 120_000, intervalMs: 250 },
  );
  return { process: proc, address, namespace, uiUrl: `http://127.0.0.1:${uiPort}`, stop: () => stopProcess(proc) };
}
