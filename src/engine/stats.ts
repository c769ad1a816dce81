/** Latency summaries the engines report, nearest-rank quantiles. */
import { nearestRank } from '../profile/index.js';

export interface LatencySummary {
  mean: number;
  p50: number;
  p99: number;
}

/** Mean, p50 and p99 of the samples (all 0 when there are none). */
export function latencyStats(xs: readonly number[]): LatencySummary {
  if (xs.length === 0) return { mean: 0, p50: 0, p99: 0 };
  const s = Float64Array.from(xs).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return { mean: sum / s.length, p50: nearestRank(s, 0.5), p99: nearestRank(s, 0.99) };
}

/**
 * The most recent `capacity` samples, in the order they came: a ring, so that a long-running
 * engine keeps bounded memory and pays O(1) per sample.
 */
export class RecentSamples {
  private readonly ring: number[] = [];
  private next = 0;

  constructor(readonly capacity: number) {}

  push(x: number): void {
    if (this.ring.length < this.capacity) this.ring.push(x);
    else this.ring[this.next] = x;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  values(): number[] {
    if (this.ring.length < this.capacity) return [...this.ring];
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
