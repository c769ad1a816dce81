/**
 * Full collections of the engine thread's heap, at a bound the live runtime chooses, marked in
 * small steps between the thread's tasks.
 *
 * The launcher turns V8's incremental marking off (decision 0004: block outputs are external
 * memory, whose pressure would otherwise start a marking cycle every second). Without it V8
 * starts a full collection only when a JavaScript allocation in the old generation fails, not
 * when scavenges promote past the old generation's limit, so a serving process's promoted
 * garbage (and the tensors it keeps alive) grows unchecked, and resident memory with it
 * (docs/experiments/2026-12-05-live-run-to-run.md). The keeper looks at the heap once a second
 * and collects once it has doubled what the last full collection kept (at least
 * `MIN_GROWTH_BYTES` more), and once when the runtime starts, so that serving begins from what
 * lives.
 *
 * An atomic collection stops this thread, and with it every dispatch and answer, for 25-45 ms on
 * a 30-40 MB heap, longer than the slack of the tightest models. So the keeper's cycles are
 * incremental: it turns incremental marking on for one cycle and starts it at once, V8 marks in
 * steps of a fraction of a millisecond between tasks and ends with a pause of a few milliseconds,
 * and the keeper turns incremental marking off again (decision 0004, amendment of 6 Dec 2026).
 */
import v8 from 'node:v8';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

const CHECK_EVERY_MS = 1000;
const GROWTH_SHARE = 1;
const MIN_GROWTH_BYTES = 32 * 2 ** 20;
/** A cycle still marking after this long is finished atomically. */
const CYCLE_LIMIT_MS = 5000;

/** Whether a heap of `usedBytes` is due a full collection, `survivorBytes` having survived the last. */
export function collectionDue(usedBytes: number, survivorBytes: number): boolean {
  return usedBytes > survivorBytes + Math.max(MIN_GROWTH_BYTES, GROWTH_SHARE * survivorBytes);
}

/** What the keeper reads and does; the process's own heap and `gc` unless a test says otherwise. */
export interface HeapAccess {
  usedBytes(): number;
  /**
   * Starts a full collection and calls `done` once it has finished, perhaps before returning;
   * undefined where node runs without `--expose-gc`.
   */
  collect?: (done: () => void) => void;
  /** Finishes at once the collection `collect` started, if it has not finished. */
  finishNow?: () => void;
  /** A full collection, finished before returning (one pause of the whole heap). */
  collectAtOnce?: () => void;
}

type Collect = (options?: { type: 'minor' | 'major' }) => void;

// `gc()` without arguments for a full collection: node 20's V8 runs only a scavenge for
// `gc({ type: 'major' })`.
const gc = (globalThis as { gc?: Collect }).gc;

/**
 * Full collections marked incrementally in a process started with `--no-incremental-marking`.
 * V8 looks at its marking limit after each scavenge, and under `--stress-incremental-marking`
 * the limit is always reached, so a scavenge with both flags on starts the cycle at once; the
 * stress flag goes off at once, incremental marking once the cycle's final pause is reported.
 */
class IncrementalCycles {
  private observer: PerformanceObserver | undefined;
  private done: (() => void) | undefined;

  constructor(private readonly collect: Collect) {}

  start(done: () => void): void {
    this.done = done;
    this.observer = new PerformanceObserver((list) => {
      const major = list.getEntries().some((entry) => gcKind(entry) === constants.NODE_PERFORMANCE_GC_MAJOR);
      if (major) this.finished();
    });
    this.observer.observe({ entryTypes: ['gc'] });
    v8.setFlagsFromString('--incremental-marking');
    v8.setFlagsFromString('--stress-incremental-marking');
    this.collect({ type: 'minor' });
    v8.setFlagsFromString('--no-stress-incremental-marking');
  }

  finishNow(): void {
    if (!this.done) return;
    this.collect();
    this.finished();
  }

  private finished(): void {
    v8.setFlagsFromString('--no-incremental-marking');
    this.observer?.disconnect();
    this.observer = undefined;
    const done = this.done;
    this.done = undefined;
    done?.();
  }
}

function gcKind(entry: PerformanceEntry): number | undefined {
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
}

function processHeap(): HeapAccess {
  const usedBytes = () => v8.getHeapStatistics().used_heap_size;
  if (!gc) return { usedBytes };
  const collectAtOnce = () => gc();
  if (!process.execArgv.includes('--no-incremental-marking')) {
    return { usedBytes, collect: (done) => (gc(), done()), collectAtOnce };
  }
  const cycles = new IncrementalCycles(gc);
  return {
    usedBytes,
    collect: (done) => cycles.start(done),
    finishNow: () => cycles.finishNow(),
    collectAtOnce,
  };
}

export class HeapKeeper {
  private survivorBytes: number;
  private timer: NodeJS.Timeout | undefined;
  /** When the collection under way started (`performance.now()`), if one is. */
  private collectingSinceMs: number | undefined;
  /** Full collections the keeper started and saw finish. */
  collections = 0;

  constructor(private readonly heap: HeapAccess = processHeap()) {
    this.survivorBytes = heap.usedBytes();
  }

  /**
   * Collects once (what starting up left behind is garbage), then checks once a second, without
   * keeping the process alive; does nothing where the heap cannot be collected.
   */
  start(): this {
    if (!this.heap.collect) return this;
    this.collect(performance.now());
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.heap.finishNow?.();
  }

  /**
   * A full collection now, finished before returning, for a moment when nothing waits on this
   * thread (between a bench's runs): a run then starts from what lives, not with the garbage of
   * what ran before it (the simulator's tuning leaves 100-150 MiB) and the pause it would bring.
   */
  collectIdle(): void {
    if (!this.heap.collectAtOnce) return;
    this.heap.finishNow?.();
    this.heap.collectAtOnce();
    this.collections++;
    this.survivorBytes = this.heap.usedBytes();
  }

  /** One look: collects when due; a heap smaller than the last survivors means V8 collected itself. */
  check(nowMs = performance.now()): void {
    if (this.collectingSinceMs !== undefined) {
      if (nowMs - this.collectingSinceMs > CYCLE_LIMIT_MS) this.heap.finishNow?.();
      return;
    }
    const used = this.heap.usedBytes();
    if (used < this.survivorBytes) this.survivorBytes = used;
    if (collectionDue(used, this.survivorBytes)) this.collect(nowMs);
  }

  private collect(nowMs: number): void {
    if (!this.heap.collect) return;
    this.collectingSinceMs = nowMs;
    this.heap.collect(() => {
      this.collectingSinceMs = undefined;
      this.collections++;
      this.survivorBytes = this.heap.usedBytes();
    });
  }
}
