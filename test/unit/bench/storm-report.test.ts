/**
 * The retention benchmark's issue-25 report: the per-backend table built from committed raw results, and the CPU
 * meter that says where a CPU-bound storm spends its time.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregate, groupSets, renderIssue25Table } from '../../../tools/bench/summary';
import { CpuMeter, cpuSeconds } from '../../../tools/bench/live';

const RESULTS = join(__dirname, '../../../tools/bench/results');

describe('issue-25 table from the committed sets', () => {
  const sets = groupSets(RESULTS, 'issue-25');

  it('reads every set of at least 3 runs per backend and leaves single option runs out', () => {
    const names = sets.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['issue-25/dev-500', 'issue-25/postgres-500']));
    expect(names.some((n) => n.includes('worker-options'))).toBe(false);
    for (const s of sets) expect(s.runs.length).toBeGreaterThanOrEqual(3);
  });

  it("puts ours / ceiling per phase in each row, as the runs' own figures divide", () => {
    const table = renderIssue25Table(sets).split('\n');
    for (const s of sets) {
      const row = table.find((l) => l.startsWith(`| \`${s.name}\``));
      expect(row).toBeDefined();
      const ratios = aggregate(s.runs).find((a) => a.key === 'deletionStart.ratioToCeiling')!.stat;
      for (const r of s.runs) {
        if (r.benchmark !== 'retention' || !r.ceiling) throw new Error('a retention run with a ceiling expected');
        const own = r.lateness.deletionStart.p99 / r.ceiling.deletionStart.p99;
        expect(own).toBeGreaterThanOrEqual(ratios.min);
        expect(own).toBeLessThanOrEqual(ratios.max);
      }
      const first = s.runs[0]!;
      if (first.benchmark !== 'retention') throw new Error('a retention set expected');
      expect(row).toContain(`| ${first.settings.backend ?? 'dev'} | ${first.settings.entries} | ${s.runs.length} |`);
    }
  });

  it('fills the CPU column for sets measured with the CPU meter, and only for those', () => {
    const table = renderIssue25Table(sets).split('\n');
    for (const s of sets) {
      const metered = s.runs.every((r) => r.benchmark === 'retention' && r.stormCpu && r.ceiling?.stormCpu);
      const column = table[0]!.split(' | ').findIndex((h) => h.startsWith('CPU over the storm'));
      const cells = table.find((l) => l.startsWith(`| \`${s.name}\``))!.split(' | ');
      const cpuCell = cells[column]!;
      if (metered) expect(cpuCell).toMatch(/^[\d.]+ s .* \/ [\d.]+ s .*\([\d.]+ s .* \/ [\d.]+ s .*\)$/);
      else expect(cpuCell).toBe('–');
    }
  });
});

describe('issue-25 reconcile table from the committed sets', () => {
  it('gives ours / floor per backend from the reconcile sets, apart from the retention rows', () => {
    const reconcile = groupSets(RESULTS, 'issue-25', 'reconcile');
    expect(reconcile.map((s) => s.name)).toEqual(expect.arrayContaining(['issue-25/reconcile-200-dev']));
    const table = renderIssue25Table([...groupSets(RESULTS, 'issue-25'), ...reconcile]).split('\n');
    for (const s of reconcile) {
      const row = table.find((l) => l.startsWith(`| \`${s.name}\``))!;
      const ratio = aggregate(s.runs).find((a) => a.key === 'ratioToFloor')!.stat;
      expect(row).toContain(`| 200 | ${s.runs.length} | ${ratio.median}×`);
    }
    // The retention rows are not in the reconcile set list and the other way round.
    expect(groupSets(RESULTS, 'issue-25').some((s) => s.name.includes('reconcile'))).toBe(false);
  });
});

describe('a set folder', () => {
  // Three committed runs of one invocation, copied so each can be made to look like its own invocation.
  const source = join(RESULTS, 'issue-25/dev-500-cpu/raw');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bel-sets-'));
    mkdirSync(join(dir, 'g/s/raw'), { recursive: true });
    for (const f of readdirSync(source)) copyFileSync(join(source, f), join(dir, 'g/s/raw', f));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  type Run = { set: Record<string, unknown>; settings: Record<string, unknown>; stormCpu?: unknown; ok?: boolean };
  const rewrite = (change: (run: Run, i: number) => void) =>
    readdirSync(join(dir, 'g/s/raw'))
      .sort()
      .forEach((f, i) => {
        const path = join(dir, 'g/s/raw', f);
        const run = JSON.parse(readFileSync(path, 'utf8')) as Run;
        change(run, i);
        writeFileSync(path, JSON.stringify(run));
      });

  it('takes runs of separate invocations with the same settings as one set', () => {
    rewrite((run, i) => {
      run.set = { ...run.set, id: `2026-12-0${i + 1}T00:00:00.000Z`, index: 1, of: 1 };
    });
    const sets = groupSets(dir, 'g');
    expect(sets.map((s) => [s.name, s.runs.length])).toEqual([['g/s', 3]]);
  });

  it('refuses a folder whose runs measured different things', () => {
    rewrite((run, i) => {
      if (i === 2) run.settings.entries = 5000;
    });
    expect(() => groupSets(dir, 'g')).toThrow(/g\/s: its runs differ in their settings/);
  });

  it('says how many runs a figure comes from when only some runs have it', () => {
    rewrite((run, i) => {
      if (i === 0) delete run.stormCpu;
    });
    const row = renderIssue25Table(groupSets(dir, 'g')).split('\n')[2]!;
    expect(row).toContain('2 of 3 runs');
    expect(row.match(/2 of 3 runs/g)).toHaveLength(2); // every process, and the worker alone
  });

  it('leaves a run that did not verify out of its set', () => {
    rewrite((run, i) => {
      if (i === 1) run.ok = false;
    });
    expect(groupSets(dir, 'g')).toEqual([]); // 2 verified runs left: fewer than 3
  });

  it('leaves a folder of fewer than 3 runs out', () => {
    rmSync(join(dir, 'g/s/raw', readdirSync(join(dir, 'g/s/raw'))[0]!));
    expect(groupSets(dir, 'g')).toEqual([]);
  });
});

describe('CPU meter', () => {
  it("counts this process's CPU time from /proc, at least what its main thread burnt", () => {
    const meter = new CpuMeter(() => ({ self: process.pid }));
    meter.start();
    // This thread's CPU, not the process's: the process also counts V8's and libuv's helper threads, which can add
    // CPU time faster than wall time passes (a CI run saw 0.3 CPU-seconds in 0.2 s of wall time).
    const before = process.threadCpuUsage();
    let spent = 0;
    let x = 0;
    while (spent < 300_000) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(i);
      const d = process.threadCpuUsage(before);
      spent = d.user + d.system;
    }
    const w = meter.stop();
    expect(x).toBeGreaterThan(0);
    // /proc counts in 10 ms ticks; the meter saw at least the 300 ms burnt (less two ticks) and the wall time passed.
    expect(w.cpuS.self).toBeGreaterThanOrEqual(0.28);
    // The CPU burnt on one thread took at least as long in wall time.
    expect(w.wallS).toBeGreaterThanOrEqual(0.3);
  });

  it('is undefined for a process that is not there', () => {
    expect(cpuSeconds(undefined)).toBeUndefined();
    expect(cpuSeconds(2 ** 22 + 12345)).toBeUndefined();
  });
});
