import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';

/** A child process started by the stack: one of etcd, kube-apiserver, temporal, fake-gcs-server. */
export interface ManagedProcess {
  /** Short name used in messages, e.g. `etcd`. */
  readonly name: string;
  readonly child: ChildProcess;
  /** File that receives the process's stdout and stderr. */
  readonly logFile: string;
  /** Set once the process has exited (by itself or because it was stopped). */
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when the process has exited. */
  readonly exitPromise: Promise<void>;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

// setpriv (util-linux) gives each child a parent-death signal, so a test runner killed with SIGKILL cannot leave
// servers behind; Node has no API for prctl(PR_SET_PDEATHSIG). Falls back to a plain spawn where setpriv is missing.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for an interrupted run: 'exit' handlers must be synchronous, so SIGKILL the process groups.
  process.on('exit', () => {
    for (const p of live) killGroup(p, 'SIGKILL');
  });
}

function killGroup(p: ManagedProcess, signal: NodeJS.Signals): void {
  if (p.exited || p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts `command` in its own process group with output appended to `logFile`.
 * The process is registered for cleanup: {@link stopProcess} stops it, and the current Node process kills it when it
 * exits (and, through the parent-death signal, when it dies).
 */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, [...args]];
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  let resolveExit!: () => void;
  const exitPromise = new Promise<void>((r) => (resolveExit = r));
  const p: ManagedProcess = { name, child, logFile, exited: undefined, exitPromise };
  child.on('exit', (code, signal) => {
    p.exited = { code, signal };
    live.delete(p);
    resolveExit();
  });
  child.on('error', (err) => {
    p.exited = { code: null, signal: null };
    live.delete(p);
    resolveExit();
    process.emitWarning(`${name} could not be started: ${err.message}`);
  });
  child.unref();
  live.add(p);
  return p;
}

/** Sends SIGTERM to the process group, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(p: ManagedProcess, graceMs = 15_000): Promise<void> {
  if (p.exited) return;
  killGroup(p, 'SIGTERM');
  const timer = setTimeout(() => killGroup(p, 'SIGKILL'), graceMs);
  await p.exitPromise;
  clearTimeout(timer);
}

/** Kills the process group at once with SIGKILL (crash tests); resolves once it has exited. */
export async function killProcess(p: ManagedProcess): Promise<void> {
  killGroup(p, 'SIGKILL');
  await p.exitPromise;
}
