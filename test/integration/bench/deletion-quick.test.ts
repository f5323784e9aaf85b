/**
 * The deletion benchmark's quick mode, as part of the test command: N = 200 on fake-gcs-server (the stack's) and on
 * the GCS stand-in, every deleter in its own child process, exactly as the full benchmark runs. Asserts correctness
 * only (everything under the prefix deleted, every sibling outside it intact, no deleter error), never a timing.
 */
import { renderDeletionMarkdown, QUICK_OPTIONS, runDeletionBenchmark } from '../../../tools/bench/deletion';
import { DELETERS } from '../../../tools/bench/deleters';
import { stackEnv } from '../../support/env';

describe('deletion benchmark, quick mode', () => {
  it('deletes everything under the prefix and nothing beside it, for every deleter on both backends', async () => {
    delete process.env.STORAGE_EMULATOR_HOST;
    const result = await runDeletionBenchmark({ ...QUICK_OPTIONS, fakeGcsEndpoint: stackEnv('GCS_API_ENDPOINT') });
    expect(result.runs.map((r) => [r.backend, r.objects, r.deleter])).toEqual([
      ...DELETERS.map((d) => ['fake-gcs-server', 200, d]),
      ...DELETERS.map((d) => ['stand-in', 200, d]),
    ]);
    for (const r of result.runs) {
      expect({ run: `${r.backend} ${r.deleter}`, problems: r.problems }).toEqual({
        run: `${r.backend} ${r.deleter}`,
        problems: [],
      });
      expect(r.verified).toBe(true);
      if (r.reportedDeleted !== undefined) expect(r.reportedDeleted).toBe(200);
      expect(r.peakRssMiB).toBeGreaterThan(0); // measured in a child process of its own
    }
    expect(result.ok).toBe(true);
    expect(result.targets).toEqual([]); // quick sizes say nothing about the targets
    expect(renderDeletionMarkdown(result)).toContain('| stand-in | 200 | ours |');
  });
});
