/**
 * The deletion benchmark's pure parts: the data it seeds, the verdict on a final listing, the targets, the flags,
 * and how results are written beside other benchmarks' results.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchKeys,
  evaluateTargets,
  renderDeletionMarkdown,
  siblingKeys,
  verifyListing,
  type DeletionBenchResult,
  type DeletionRun,
} from '../../../tools/bench/deletion';
import { parseDeletionArgs, writeResults } from '../../../tools/bench/run';

const ENTRY = 'shoot--bench--n10--3f1c6a7e-2b4d-4c8e-9a0b-1234567890ab';

const run = (over: Partial<DeletionRun>): DeletionRun => ({
  backend: 'stand-in',
  objects: 10_000,
  deleter: 'ours',
  seconds: 10,
  objectsPerSecond: 1000,
  capPercent: 100,
  peakRssMiB: 100,
  rssBeforeMiB: 70,
  verified: true,
  problems: [],
  ...over,
});

describe('deletion benchmark data and verdicts', () => {
  it('seeds exactly N distinct keys under the prefix and siblings that share its first characters', () => {
    for (const n of [1, 7, 200, 1000]) {
      const keys = benchKeys(ENTRY, n);
      expect(keys).toHaveLength(n);
      expect(new Set(keys).size).toBe(n);
      expect(keys.every((k) => k.startsWith(`${ENTRY}/`))).toBe(true);
    }
    const siblings = siblingKeys(ENTRY);
    expect(siblings.some((k) => k.startsWith(`${ENTRY}2/`))).toBe(true);
    expect(siblings.some((k) => k.startsWith(`${ENTRY}-x/`))).toBe(true);
    expect(siblings).toContain(ENTRY);
    expect(siblings.some((k) => k.startsWith(`${ENTRY}/`))).toBe(false);
  });

  it('fails a listing with leftovers, a deleted sibling or a stranger; passes the exact siblings', () => {
    const prefix = `${ENTRY}/`;
    const siblings = siblingKeys(ENTRY);
    expect(verifyListing([...siblings].reverse(), prefix, siblings)).toEqual([]);
    expect(verifyListing([...siblings, `${prefix}left`], prefix, siblings)).toEqual([
      `1 object(s) left under ${prefix} (first: ${prefix}left)`,
    ]);
    expect(verifyListing(siblings.slice(1), prefix, siblings)[0]).toMatch(
      /^1 sibling\(s\) outside the prefix were deleted/,
    );
    expect(verifyListing([...siblings, 'other'], prefix, siblings)[0]).toMatch(/^1 unexpected object/);
  });

  it('checks the three targets for our deleter on the stand-in only', () => {
    const runs = [
      run({ objects: 10_000, capPercent: 95, ratioToGardener: 3.2, peakRssMiB: 200 }),
      run({ objects: 100_000, capPercent: 85, ratioToGardener: 2.9, peakRssMiB: 215 }),
      run({ backend: 'fake-gcs-server', objects: 1000, capPercent: 10 }),
      run({ deleter: 'gardener', objects: 10_000, capPercent: 30 }),
    ];
    expect(evaluateTargets(runs).map((t) => [t.target, t.objects, t.met])).toEqual([
      ['≥ 90 % of the write cap', 10_000, true],
      ["≥ 3× Gardener's algorithm", 10_000, true],
      ['≥ 90 % of the write cap', 100_000, false],
      ["≥ 3× Gardener's algorithm", 100_000, false],
      ['peak RSS flat from 10k to 100k (≤ +10 %)', undefined, true],
    ]);
  });

  it('parses flags; any size, latency or cap flag makes a custom run', () => {
    expect(parseDeletionArgs([]).options).toMatchObject({
      mode: 'full',
      standInSizes: [1000, 10_000, 100_000],
      fakeGcsSizes: [1000, 5000],
      latencyMs: 30,
      capPerSecond: 1000,
      deleters: ['ours', 'deleteFiles', 'gardener'],
    });
    expect(parseDeletionArgs(['--quick']).options).toMatchObject({
      mode: 'quick',
      standInSizes: [200],
      fakeGcsSizes: [200],
    });
    expect(
      parseDeletionArgs([
        '--sizes',
        '2k,500',
        '--fake-gcs-sizes',
        'none',
        '--latency-ms',
        '5',
        '--cap',
        '300',
        '--deleters',
        'gardener,ours',
      ]).options,
    ).toMatchObject({
      mode: 'custom',
      standInSizes: [2000, 500],
      fakeGcsSizes: [],
      latencyMs: 5,
      capPerSecond: 300,
      deleters: ['gardener', 'ours'],
    });
    expect(() => parseDeletionArgs(['--deleters', 'rm-rf'])).toThrow(/unknown deleter/);
    expect(() => parseDeletionArgs(['--cap', '0'])).toThrow(/--cap/);
  });

  it("writes its own JSON key and markdown section, keeping other benchmarks' results", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
    try {
      writeFileSync(join(dir, 'latest.json'), JSON.stringify({ reconcile: { kept: true } }));
      writeFileSync(
        join(dir, 'latest.md'),
        '# Benchmark results\n\n<!-- bench:reconcile:start -->\nR\n<!-- bench:reconcile:end -->\n',
      );
      const result: DeletionBenchResult = {
        benchmark: 'deletion',
        mode: 'full',
        startedAt: '2026-11-25T17:00:00.000Z',
        finishedAt: '2026-11-25T17:10:00.000Z',
        machine: {
          cpuModel: 'cpu',
          cores: 2,
          memoryGiB: 8,
          os: 'Linux',
          node: 'v24',
          go: 'go1.26',
          tools: {},
          loadAverageStart: [1, 1, 1],
          loadAverageEnd: [1, 1, 1],
        },
        settings: {
          latencyMs: 30,
          capPerSecond: 1000,
          burst: 100,
          standInSizes: [10_000],
          fakeGcsSizes: [],
          deleters: ['ours'],
        },
        runs: [run({ verified: false, problems: ['1 object(s) left under p/'] })],
        targets: [],
        ok: false,
      };
      writeResults(dir, 'latest', result, renderDeletionMarkdown(result));
      writeResults(dir, 'latest', result, renderDeletionMarkdown(result)); // replaces its section, does not append a second one
      const json = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as Record<string, unknown>;
      expect(Object.keys(json).sort()).toEqual(['deletion', 'reconcile']);
      const md = readFileSync(join(dir, 'latest.md'), 'utf8');
      expect(md.match(/bench:deletion:start/g)).toHaveLength(1);
      expect(md).toContain('<!-- bench:reconcile:start -->\nR\n');
      expect(md).toContain('| stand-in | 10k | ours | 10 | 1000 |');
      expect(renderDeletionMarkdown(result)).toContain('**NO**: 1 object(s) left under p/');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
