import { join } from 'node:path';
import { freePort } from './ports';
import { startProcess, stopProcess, type ManagedProcess } from './processes';
import { waitFor } from './wait';

/** A running fake-gcs-server (in memory, plain http). */
export interface FakeGcs {
  process: ManagedProcess;
  /** `http://127.0.0.1:<port>`: give it to `new Storage({ apiEndpoint })`. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts fake-gcs-server on a free port with the in-memory backend. */
export async function startFakeGcs(opts: { bin: string; dir: string; log?: (m: string) => void }): Promise<FakeGcs> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  opts.log?.(`starting fake-gcs-server on ${endpoint}`);
  const proc = startProcess(
    'fake-gcs-server',
    opts.bin,
    [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'memory',
      '-public-host',
      `127.0.0.1:${port}`,
      '-external-url',
      endpoint,
      '-log-level',
      'warn',
    ],
    join(opts.dir, 'fake-gcs-server.log'),
  );
  await waitFor(async () => (await fetch(`${endpoint}/storage/v1/b`)).ok, { what: 'fake-gcs-server', process: proc });
  return { process: proc, endpoint, stop: () => stopProcess(proc) };
}
