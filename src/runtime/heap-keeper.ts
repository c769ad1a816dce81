/**
 * Full collections of the engine thread's heap, at a bound the live runtime chooses.
 *
 * The launcher turns V8's incremental marking off (decision 0004: block outputs are external
 * memory, whose pressure would otherwise start a marking cycle every second). Without it V8
 * starts a full collection only when a JavaScript allocation in the old generation fails, not
 * when scavenges promote past the old generation's limit, so a serving process's promoted
 * garbage (and the tensors it keeps alive) grows unchecked, and resident memory with it
 * (docs/experiments/2026-12-05-live-run-to-run.md). The keeper looks at the heap once a second
 * and collects once it has doubled what the last full collection kept (at least
 * `MIN_GROWTH_BYTES` more). A collection stops this thread, and with it every dispatch, for
 * 30-45 ms on a 40 MB heap whatever the garbage, longer than the slack of the tightest models:
 * the keeper bounds memory (at twice what lives) with as few pauses as that bound allows.
 */
import v8 from 'node:v8';

const CHECK_EVERY_MS = 1000;
const GROWTH_SHARE = 1;
const MIN_GROWTH_BYTES = 32 * 2 ** 20;

/** Whether a heap of `usedBytes` is due a full collection, `survivorBytes` having survived the last. */
export function collectionDue(usedBytes: number, survivorBytes: number): boolean {
  return usedBytes > survivorBytes + Math.max(MIN_GROWTH_BYTES, GROWTH_SHARE * survivorBytes);
}

/** What the keeper reads and does; the process's own heap and `gc` unless a test says otherwise. */
export interface HeapAccess {
  usedBytes(): number;
  /** A full, synchronous collection; undefined where node runs without `--expose-gc`. */
  collect?: () => void;
}

// `gc()` without arguments: node 20's V8 runs only a scavenge for `gc({ type: 'major' })`.
const gc = (globalThis as { gc?: () => void }).gc;

const processHeap: HeapAccess = {
  usedBytes: () => v8.getHeapStatistics().used_heap_size,
  collect: gc,
};

export class HeapKeeper {
  private survivorBytes: number;
  private timer: NodeJS.Timeout | undefined;
  /** Full collections the keeper started. */
  collections = 0;

  constructor(private readonly heap: HeapAccess = processHeap) {
    this.survivorBytes = heap.usedBytes();
  }

  /** Checks once a second, without keeping the process alive; does nothing where `gc` is absent. */
  start(): this {
    if (this.heap.collect) this.timer = setInterval(() => this.check(), CHECK_EVERY_MS).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look: collects when due; a heap smaller than the last survivors means V8 collected itself. */
  check(): void {
    const used = this.heap.usedBytes();
    if (used < this.survivorBytes) this.survivorBytes = used;
    if (!this.heap.collect || !collectionDue(used, this.survivorBytes)) return;
    this.heap.collect();
    this.collections++;
    this.survivorBytes = this.heap.usedBytes();
  }
}
