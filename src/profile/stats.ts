/**
 * Statistics over samples, each convention under its own name. Which convention a number uses
 * is part of what it means (a profile's typical latency, a report's p99, a fitted ratio the
 * simulator's golden traces rest on), so callers choose one by name rather than spell their own.
 * Every function answers NaN for no samples; what an empty set should read as is the caller's.
 */

/**
 * Nearest rank: the smallest sample with at least a fraction `q` (0..1) of the samples at or
 * below it, from samples sorted ascending; of an even count, p50 is the lower middle one. A
 * reported quantile is then a latency that really happened: the engines' and benchmarks'
 * p50 and p99.
 */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** `nearestRank` at 0.5 of samples in any order: of an even count, the lower middle one. */
export function lowerMedian(xs: readonly number[]): number {
  return nearestRank(Float64Array.from(xs).sort(), 0.5);
}

/**
 * Linear interpolation between the closest ranks (numpy's default, R's type 7), from samples in
 * any order: for few samples it moves smoothly with each of them, which the compiler's
 * measurements and its prediction errors want.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** `quantile` at 0.5: of an even count, the mean of the two middle samples. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/**
 * The sample at rank floor(n / 2) of samples in any order: of an even count, the upper middle
 * one. The ratios the simulator fits to the 3990X calibration use it.
 */
export function upperMedian(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
