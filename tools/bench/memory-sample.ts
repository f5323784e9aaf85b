/**
 * One memory sample of a worker process (written by tools/bench/worker-probe.ts) and how it is split into where the
 * memory goes. Pure functions, unit-tested.
 */

/** The fields of `/proc/<pid>/smaps_rollup` the breakdown uses, bytes. */
export interface SmapsRollup {
  rss: number;
  pss: number;
  anonymous: number;
  privateDirty: number;
  sharedClean: number;
  privateClean: number;
  swap: number;
}

/** The memory lines of `/proc/<pid>/status`, bytes. */
export interface StatusMemory {
  vmHwm: number;
  vmRss: number;
  rssAnon: number;
  rssFile: number;
  threads: number;
}

/** One line of the probe's file. Bytes, except `at` (epoch ms). */
export interface MemorySample {
  at: number;
  tag?: string;
  rss: number;
  /** Main thread V8 heap (the SDK's core bridge, activities, Kubernetes client, pino, prom-client). */
  heapUsed: number;
  heapTotal: number;
  /** Main thread V8 heap pages resident. */
  heapPhysical: number;
  /** Memory held by JS objects outside the heap (Buffers, ArrayBuffers), every thread of the isolate's embedder. */
  external: number;
  arrayBuffers: number;
  /** V8's own malloc (compiler, parser) in the main isolate. */
  mallocedMemory: number;
  /** V8 heap of each worker thread (the workflow sandbox: `workflowThreadPoolSize` threads). */
  threads: Array<{ used: number; total: number; physical: number }>;
  smaps: SmapsRollup;
  status: StatusMemory;
}

const KIB = 1024;

/** Parses `/proc/<pid>/smaps_rollup` (values in kB). Missing fields are 0. */
export function parseSmapsRollup(text: string): SmapsRollup {
  const v = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * KIB : 0;
  };
  return {
    rss: v('Rss'),
    pss: v('Pss'),
    anonymous: v('Anonymous'),
    privateDirty: v('Private_Dirty'),
    sharedClean: v('Shared_Clean'),
    privateClean: v('Private_Clean'),
    swap: v('Swap'),
  };
}

/** Parses the memory lines (and thread count) of `/proc/<pid>/status`. Missing fields are 0. */
export function parseStatusMemory(text: string): StatusMemory {
  const v = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * KIB : 0;
  };
  const threads = /^Threads:\s+(\d+)/m.exec(text);
  return {
    vmHwm: v('VmHWM'),
    vmRss: v('VmRSS'),
    rssAnon: v('RssAnon'),
    rssFile: v('RssFile'),
    threads: threads ? Number(threads[1]) : 0,
  };
}

/** Where a sample's resident memory goes, MiB (one decimal). The parts add up to `rss`. */
export interface MemoryBreakdown {
  rss: number;
  /** Main thread V8 heap pages resident (used + free space V8 keeps). */
  mainHeap: number;
  mainHeapUsed: number;
  /** Worker-thread V8 heaps resident (the workflow sandbox). */
  workflowHeap: number;
  workflowHeapUsed: number;
  /** Buffers and ArrayBuffers backing stores (outside the V8 heaps). */
  arrayBuffers: number;
  /** File-backed resident pages: node, the SDK's native module (Rust core), shared libraries. */
  fileBacked: number;
  /**
   * The rest of the anonymous memory: native allocations not owned by a V8 heap or a buffer — the Rust core (its
   * workflow state machines, history and poll buffers, tokio), V8's own malloc (compiled code metadata), glibc arena
   * slack, thread stacks.
   */
  native: number;
  threads: number;
}

const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/** Splits a sample's RSS into {@link MemoryBreakdown}. */
export function breakdown(s: MemorySample): MemoryBreakdown {
  const workflowHeap = s.threads.reduce((a, t) => a + t.physical, 0);
  const workflowHeapUsed = s.threads.reduce((a, t) => a + t.used, 0);
  const rss = s.smaps.rss || s.rss;
  const fileBacked = s.status.rssFile;
  const native = Math.max(0, rss - fileBacked - s.heapPhysical - workflowHeap - s.arrayBuffers);
  return {
    rss: mib(rss),
    mainHeap: mib(s.heapPhysical),
    mainHeapUsed: mib(s.heapUsed),
    workflowHeap: mib(workflowHeap),
    workflowHeapUsed: mib(workflowHeapUsed),
    arrayBuffers: mib(s.arrayBuffers),
    fileBacked: mib(fileBacked),
    native: mib(native),
    threads: s.status.threads,
  };
}

/** Parses the probe's file (one JSON sample per line; a torn last line is skipped). */
export function parseProbeFile(text: string): MemorySample[] {
  const out: MemorySample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as MemorySample);
    } catch {
      // the line being written when the file was read
    }
  }
  return out;
}
