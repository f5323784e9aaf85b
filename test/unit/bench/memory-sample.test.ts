import {
  breakdown,
  parseProbeFile,
  parseSmapsRollup,
  parseStatusMemory,
  type MemorySample,
} from '../../../tools/bench/memory-sample';
import { histogram, parsePrometheus, sdkSummary } from '../../../tools/bench/sdk-metrics';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { MemorySampler } from '../../../tools/bench/live';
import { processMemory } from '../../../tools/stack/product-process';
import { waitFor } from '../../../tools/stack/wait';

const MiB = 2 ** 20;

describe('memory samples (tools/bench/memory-sample.ts)', () => {
  it('parses smaps_rollup and status (kB → bytes; missing fields 0)', () => {
    const smaps = parseSmapsRollup(
      '55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:             307200 kB\nPss:              250000 kB\nAnonymous:        235520 kB\nPrivate_Dirty:    235000 kB\n',
    );
    expect(smaps).toMatchObject({ rss: 300 * MiB, anonymous: 230 * MiB, swap: 0, sharedClean: 0 });
    const status = parseStatusMemory(
      'VmHWM:\t  409600 kB\nVmRSS:\t  307200 kB\nRssAnon:\t  235520 kB\nRssFile:\t   71680 kB\nThreads:\t16\n',
    );
    expect(status).toEqual({ vmHwm: 400 * MiB, vmRss: 300 * MiB, rssAnon: 230 * MiB, rssFile: 70 * MiB, threads: 16 });
  });

  it('splits RSS into heaps, buffers, files and the native rest, which add up to RSS', () => {
    const s: MemorySample = {
      at: 1,
      rss: 300 * MiB,
      heapUsed: 80 * MiB,
      heapTotal: 140 * MiB,
      heapPhysical: 100 * MiB,
      external: 10 * MiB,
      arrayBuffers: 5 * MiB,
      mallocedMemory: 0,
      threads: [{ used: 20 * MiB, total: 40 * MiB, physical: 30 * MiB }],
      smaps: { rss: 300 * MiB, pss: 0, anonymous: 0, privateDirty: 0, sharedClean: 0, privateClean: 0, swap: 0 },
      status: { vmHwm: 0, vmRss: 300 * MiB, rssAnon: 230 * MiB, rssFile: 70 * MiB, threads: 16 },
    };
    const b = breakdown(s);
    expect(b).toEqual({
      rss: 300,
      mainHeap: 100,
      mainHeapUsed: 80,
      workflowHeap: 30,
      workflowHeapUsed: 20,
      arrayBuffers: 5,
      fileBacked: 70,
      native: 95,
      threads: 16,
    });
    expect(b.mainHeap + b.workflowHeap + b.arrayBuffers + b.fileBacked + b.native).toBe(b.rss);
  });

  it('reads the probe file, skipping a torn last line', () => {
    expect(parseProbeFile('{"at":1}\n{"at":2}\n{"at":').map((s) => s.at)).toEqual([1, 2]);
  });
});

describe('SDK metrics (tools/bench/sdk-metrics.ts)', () => {
  const text = [
    '# HELP temporal_sticky_cache_size x',
    'temporal_sticky_cache_size{namespace="default",task_queue="q"} 500',
    'temporal_sticky_cache_hit{namespace="default"} 40',
    'temporal_sticky_cache_miss{namespace="default"} 10',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="0.01"} 50',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="0.1"} 98',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="1"} 100',
    'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="q",le="+Inf"} 100',
    'temporal_workflow_task_schedule_to_start_latency_sum{task_queue="q"} 2.5',
    'temporal_workflow_task_schedule_to_start_latency_count{task_queue="q"} 100',
  ].join('\n');

  it('parses the exposition format', () => {
    const s = parsePrometheus(text);
    expect(s[0]).toEqual({
      name: 'temporal_sticky_cache_size',
      labels: { namespace: 'default', task_queue: 'q' },
      value: 500,
    });
  });

  it('histograms (seconds, as the runtime exports them): count, mean and quantiles by bucket bound, in ms', () => {
    expect(histogram(parsePrometheus(text), /^temporal_workflow_task_schedule_to_start_latency$/)).toEqual({
      count: 100,
      meanMs: 25,
      p50Ms: 10,
      p99Ms: 1000,
    });
  });

  it('summarises cache and latencies; absent metrics are left out', () => {
    const s = sdkSummary(parsePrometheus(text));
    expect(s).toMatchObject({ stickyCacheSize: 500, stickyCacheHits: 40, stickyCacheMisses: 10 });
    expect(s.workflowTaskScheduleToStart?.p99Ms).toBe(1000);
    expect(s).not.toHaveProperty('workflowTaskReplay');
  });
});

describe('resident memory of product processes (tools/stack/product-process.ts, MemorySampler)', () => {
  it('gives no sample for a zombie (its status has no Vm lines), so the sampler keeps the peaks it had', async () => {
    // sh starts a short child, prints its pid and becomes `sleep`, which never reaps it: a real zombie, as the
    // worker is for a moment at the benchmark's cold restart.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [chunk] = (await once(parent.stdout!, 'data')) as [Buffer];
      const zombie = Number(chunk.toString().trim());
      await waitFor(() => /^State:\s+Z/m.test(readFileSync(`/proc/${zombie}/status`, 'utf8')), {
        what: `process ${zombie} to be a zombie`,
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      expect(processMemory(zombie)).toBeUndefined();
      const live = processMemory(process.pid);
      expect(live?.rssMiB).toBeGreaterThan(0);
      expect(live?.peakRssMiB).toBeGreaterThanOrEqual(live!.rssMiB);

      let pid = process.pid;
      const sampler = new MemorySampler(() => ({ worker: pid }), 60_000);
      sampler.sample();
      pid = zombie;
      expect(sampler.sample()).toEqual({});
      pid = process.pid;
      sampler.stop();
      expect(Number.isFinite(sampler.peak.worker)).toBe(true);
      // The sampler keeps tenths of a MiB; VmHWM never falls, so the peak is at least the RSS read before.
      expect(sampler.peak.worker).toBeGreaterThanOrEqual(Math.floor(live!.rssMiB * 10) / 10);
    } finally {
      parent.kill();
    }
  });
});
