import { DefaultLogger, Runtime } from '@temporalio/worker';

// Tests keep the Temporal SDK's own logs at WARN and above; the runtime can be installed once per process.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed by an earlier test file in this jest worker
}
