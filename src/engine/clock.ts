/**
 * The engine's time. The simulator and the live runtime run the same engine core and differ
 * only in their clock and their executor (as SimPy's Environment and RealtimeEnvironment do).
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Milliseconds since the engine's origin. */
  nowMs(): number;
}

/** Simulated time: it moves only when the simulation loop sets it, to the next event's time. */
export class VirtualClock implements Clock {
  private now = 0;

  nowMs(): number {
    return this.now;
  }

  set(ms: number): void {
    if (ms < this.now) throw new RangeError(`virtual time cannot go back from ${this.now} to ${ms} ms`);
    this.now = ms;
  }
}

/** Wall time from a monotonic source, counted from when the clock was made (or `originMs`). */
export class WallClock implements Clock {
  /** performance.now() at the origin. */
  readonly originMs: number;

  constructor(originMs = performance.now()) {
    this.originMs = originMs;
  }

  nowMs(): number {
    return performance.now() - this.originMs;
  }

  /** Engine time of an epoch time taken on any thread (performance.timeOrigin + performance.now()). */
  fromEpochMs(epochMs: number): number {
    return epochMs - performance.timeOrigin - this.originMs;
  }
}
