import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../../../starter/cli/program';
import type { EntryRow, StatusCommandOutput } from '../../../starter/cli/format';
import { statusQuery } from '../../../workflows/messages';
import { type LiveEntries, type LiveEntry, startLiveEntries } from '../../support/live-entries';

const ROOT = resolve(__dirname, '..', '..', '..');
const CLI_JS = join(ROOT, 'dist', 'starter', 'cli.js');
const run = promisify(execFile);

/** The CLI on the real stack: through runCli (fast) and as a child process of the built `dist/starter/cli.js`. */
describe('backupentry CLI against a real worker, kube-apiserver and Temporal', () => {
  let live: LiveEntries;
  let env: NodeJS.ProcessEnv;
  let built: Promise<void>;
  let retaining: LiveEntry & { deadline: string };

  beforeAll(async () => {
    // The child-process test needs dist/: compile in the background meanwhile. Type errors elsewhere in the tree still
    // emit JavaScript, so only a missing CLI counts as a failed build (checked in that test).
    built = run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).then(
      () => undefined,
      (e: { stdout?: string }) => {
        if (!existsSync(CLI_JS)) throw new Error(`build failed: ${e.stdout ?? String(e)}`);
      },
    );
    built.catch(() => undefined);
    live = await startLiveEntries('cli');
    env = { ...process.env, BEL_CLUSTER_IDENTITY: live.cluster, USER: 'cli-tester', BEL_CLI_TIMEOUT: '60s' };
  });

  afterAll(async () => {
    await built?.catch(() => undefined);
    await live?.stop();
  });

  /** Runs the CLI in-process on the suite's client; returns the exit code and both streams. */
  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      out: { write: (s: string) => (out += s) },
      err: { write: (s: string) => (err += s) },
      env,
      client: live.client,
      progressIntervalMs: 2000,
    });
    return { code, out, err };
  }

  /** Runs the built CLI as a child process with the suite's environment. */
  async function node(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(process.execPath, [CLI_JS, ...argv], { env, cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  }

  it("expedite on a live entry is refused with exit code 2 and the workflow's reason", async () => {
    const entry = await live.createReady();
    const r = await cli('expedite', entry.name, '--reason', 'too early', '--by', 'alice');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^backupentry: refused: entry .* is not being deleted \(phase Ready\); there is no retention to expedite$/m,
    );
    expect(r.out).toBe('');
    const v = await live.retain(entry);
    retaining = { ...entry, deadline: v.deletionScheduledAt! };
  });

  it('list --phase Retaining --output json shows the retaining entry with its deletion due time', async () => {
    const deadline = Date.now() + 30_000;
    let rows: EntryRow[] = [];
    // Visibility is eventually consistent: poll until the phase is indexed.
    while (Date.now() < deadline) {
      const r = await cli('list', '--phase', 'Retaining', '--output', 'json');
      expect(r.code).toBe(0);
      rows = JSON.parse(r.out) as EntryRow[];
      if (rows.some((x) => x.entry === retaining.name && x.deletionDue)) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(rows.find((x) => x.entry === retaining.name)).toEqual({
      entry: retaining.name,
      workflowId: retaining.workflowId,
      runId: retaining.handle.firstExecutionRunId,
      status: 'Running',
      type: 'local',
      phase: 'Retaining',
      bucket: live.bucket,
      deletionDue: retaining.deadline,
    });
    expect(rows.every((x) => x.phase === 'Retaining')).toBe(true);
    const table = await cli('list');
    expect(table.out.split('\n')[0]).toMatch(/^ENTRY\s+TYPE\s+PHASE\s+BUCKET\s+DELETION DUE$/);
    expect(table.out).toMatch(
      new RegExp(
        `^${retaining.name}\\s+local\\s+Retaining\\s+${live.bucket}\\s+${retaining.deadline} \\(in (59m|1h)`,
        'm',
      ),
    );
  });

  it('status shows phase, deadline and the decision log (no inventory during the retention)', async () => {
    const r = await cli('status', retaining.name);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Phase:\s+Retaining$/m);
    expect(r.out).toMatch(
      new RegExp(
        `^Deletion due:\\s+${retaining.deadline} \\(in (59m(\\d+s)?|1h); retention 1h \\(annotation\\)\\)$`,
        'm',
      ),
    );
    // The objects are counted by the deletion itself (issue 24), not during the retention.
    expect(r.out).not.toMatch(/^Inventory:/m);
    expect(r.out).toMatch(/^Summary:\s+Retaining backups until .* UTC — expedite or cancel-cleanup$/m);
    expect(r.out).toMatch(/^Last operation:\s+Delete Pending at .*Backups are retained until/m);
    expect(r.out).toMatch(
      /^ {2}\S+ {2}retention-start by controller: retention 1h \(annotation\) → the objects under /m,
    );
    expect(r.out).not.toMatch(/note by controller: inventory/m);
    const json = JSON.parse((await cli('status', retaining.name, '-o', 'json')).out) as StatusCommandOutput;
    expect(json.view).toMatchObject({ phase: 'Retaining', deletionScheduledAt: retaining.deadline });
    expect(json.view.inventory).toBeUndefined();
  });

  it('extend --by 24h moves the deadline; an earlier --until is refused with exit code 2', async () => {
    const r = await cli('extend', retaining.name, '--by', '24h', '--reason', 'audit', '--as', 'carol');
    expect(r.code).toBe(0);
    const moved = new Date(Date.parse(retaining.deadline) + 24 * 3600_000).toISOString().replace('.000Z', 'Z');
    expect(r.out).toContain(`deadline moved to ${moved}`);
    const v = await retaining.handle.query(statusQuery);
    expect(v.deletionScheduledAt).toBe(moved);
    expect(v.decisions.at(-1)).toMatchObject({ action: 'extend', by: 'carol', reason: 'audit' });
    const earlier = await cli('extend', retaining.name, '--until', retaining.deadline, '--reason', 'shorten');
    expect(earlier.code).toBe(2);
    expect(earlier.err).toMatch(/refused: extend must move the deadline later: .* is not after the current deadline/);
    const bad = await cli('extend', retaining.name, '--by', 'soon', '--reason', 'x');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--by: .*soon/);
  });

  it('cancel-cleanup ends the workflow Kept and keeps every object', async () => {
    const r = await cli('cancel-cleanup', retaining.name, '--reason', 'deleted by mistake', '--wait');
    expect(r.code).toBe(0);
    expect(r.out).toContain('every object is kept; finalizers released');
    expect(r.out).toMatch(/workflow ended Kept \(kept\)/);
    const result = await retaining.handle.result();
    expect(result).toMatchObject({ phase: 'Kept', outcome: 'kept' });
    expect(result.decisions.find((d) => d.action === 'cancel-cleanup')).toMatchObject({
      by: 'cli-tester',
      reason: 'deleted by mistake',
    });
    expect(live.objectsOf(retaining.name)).toHaveLength(3);
    const again = await cli('expedite', retaining.name, '--reason', 'too late');
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/has already ended \(Completed, phase Kept\); nothing to expedite/);
  });

  it('as a child process: exit codes 2 (refused), 1 (unknown entry) and 0; expedite --wait deletes the backups', async () => {
    await built;
    expect(existsSync(CLI_JS)).toBe(true);
    const entry = await live.createReady();
    const refusedLive = await node('expedite', entry.name, '--reason', 'not yet');
    expect(refusedLive).toMatchObject({ code: 2, stdout: '' });
    expect(refusedLive.stderr).toMatch(/^backupentry: refused: entry .* is not being deleted \(phase Ready\)/);
    const unknown = await node('status', 'shoot--nope--x');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no workflow for entry shoot--nope--x/);
    const usage = await node('extend', entry.name, '--reason', 'x');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/give exactly one of --by <duration> and --until/);
    const help = await node('expedite', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:/);
    await live.retain(entry);
    const status = await node('status', entry.name);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Phase:\s+Retaining$/m);
    expect(live.objectsOf(entry.name)).toHaveLength(3);
    const done = await node('expedite', entry.name, '--reason', 'shoot recreated elsewhere', '--by', 'dave', '--wait');
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('retention ended early; deleting backups now');
    expect(done.stdout).toMatch(/workflow ended Deleted \(deleted\): 3 objects \(300 B\) deleted, 0 remaining/);
    expect(await entry.handle.result()).toMatchObject({
      phase: 'Deleted',
      outcome: 'deleted',
      deletion: { deletedObjects: 3 },
    });
    expect(live.objectsOf(entry.name)).toEqual([]);
  });
});
