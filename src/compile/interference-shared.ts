/** Shared between the co-runner threads and the main thread: control slots and the probe. */
import { performance } from 'node:perf_hooks';

/** Int32 slots of the control buffer. */
export const CONTROL = { duty: 0, stop: 1, sleep: 2, count: 3, ready: 4 } as const;
export const CONTROL_SLOTS = 5;

/** Resolves once every worker sharing `control` has set the ready slot (buffers allocated). */
export async function whenReady(control: Int32Array, workers: number): Promise<void> {
  while (Atomics.load(control, CONTROL.ready) < workers) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
/** Duty-cycle period of a streaming co-runner. */
export const PERIOD_MS = 2;

export interface WorkerData {
  role: 'stream' | 'probe';
  control: SharedArrayBuffer;
  /** Stream: size of each of the two buffers. Probe: size of each of the probe's two buffers. */
  bufferBytes: number;
  /** Probe: ring of pass times in ms (Float64). */
  results?: SharedArrayBuffer;
  /** CPUs (taskset list, e.g. `1`) the thread pins itself to, when set. */
  cpus?: string;
}

/**
 * The reference probe: two passes of copying one buffer into another, the two together as
 * large as the last-level cache. Alone it runs out of the LLC; a co-runner that evicts its
 * lines or takes memory bandwidth slows it. Its slowdown defines the interference unit.
 */
export function makeProbe(bufferBytes: number): () => number {
  const n = Math.max(1024, Math.floor(bufferBytes / 8));
  const src = new Float64Array(n).fill(2);
  const dst = new Float64Array(n);
  return () => {
    const start = performance.now();
    dst.set(src);
    dst.set(src);
    return performance.now() - start;
  };
}
