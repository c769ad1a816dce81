/** Latency summaries the engines report, nearest-rank quantiles. */

export interface LatencySummary {
  mean: number;
  p50: number;
  p99: number;
}

/** Value at quantile q (0..1) of ascending samples, nearest rank; NaN when there are none. */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Mean, p50 and p99 of the samples (all 0 when there are none). */
export function latencyStats(xs: readonly number[]): LatencySummary {
  if (xs.length === 0) return { mean: 0, p50: 0, p99: 0 };
  const s = Float64Array.from(xs).sort();
  let sum = 0;
  for (const x of s) sum += x;
  return { mean: sum / s.length, p50: nearestRank(s, 0.5), p99: nearestRank(s, 0.99) };
}
