/**
 * Deciding one offered rate (docs/evaluation.md, "Deciding one rate"): a sequential exact test
 * of every model's miss rate against the QoS bound. A run is looked at every `chunkQueries`
 * queries; at each look a model's misses `k` of its `n` queries give one-sided Clopper-Pearson
 * bounds at level `alpha = familyAlpha / (models x looks)`. The rate passes once every model's
 * upper bound is below `missRate`, fails once one model's lower bound is above it, and counts as
 * failed ("undecided") when `maxQueries` pass without either.
 *
 * Bounds are not needed to decide: the upper bound is below p exactly when P(X <= k | n, p) is
 * below alpha, and the lower bound above p exactly when P(X >= k | n, p) is. The binomial tails
 * are summed in log space, so n in the tens of thousands neither underflows nor loses precision.
 */

export interface SequentialTest {
  /** Queries between looks. */
  readonly chunkQueries: number;
  /** Queries after which an undecided run stops (a whole number of chunks). */
  readonly maxQueries: number;
  /** The QoS bound on each model's miss rate (1 - the satisfaction target). */
  readonly missRate: number;
  /** Probability that a whole decision errs, split over models and looks. */
  readonly familyAlpha: number;
}

/** The protocol's test: 2,000-query chunks up to 64,000, 1 % misses, 5 % family-wise. */
export const PROTOCOL_TEST: SequentialTest = {
  chunkQueries: 2000,
  maxQueries: 64000,
  missRate: 0.01,
  familyAlpha: 0.05,
};

export type Verdict = 'pass' | 'fail' | 'undecided';

/** One model's tally at a look. */
export interface ModelTally {
  readonly model: string;
  readonly queries: number;
  readonly misses: number;
}

export interface ModelBounds extends ModelTally {
  /** One-sided Clopper-Pearson bounds of the miss rate at the look's alpha. */
  readonly lowerMissRate: number;
  readonly upperMissRate: number;
}

/** The per-look alpha: the family's, split over the models and every possible look. */
export function lookAlpha(test: SequentialTest, models: number): number {
  return test.familyAlpha / (Math.max(1, models) * Math.ceil(test.maxQueries / test.chunkQueries));
}

/**
 * The verdict at one look: `pass`, `fail`, or `undecided` (look again, or, at the last look,
 * count as failed).
 */
export function verdictAt(tallies: readonly ModelTally[], test: SequentialTest): Verdict {
  const alpha = lookAlpha(test, tallies.length);
  if (tallies.some((t) => upperTail(t.misses, t.queries, test.missRate) < alpha)) return 'fail';
  if (tallies.every((t) => t.queries > 0 && lowerTail(t.misses, t.queries, test.missRate) < alpha))
    return 'pass';
  return 'undecided';
}

/**
 * True when the run can no longer pass: a model has `misses` already among the queries it will
 * have `finalQueries` of at the last look, and even with no miss more its upper bound there would
 * not fall below the miss rate. Such a run can only fail or end undecided, both failures, so it
 * may stop at once with the same outcome. `models` counts the mix's models (the look's alpha).
 */
export function cannotPass(
  tally: { misses: number; finalQueries: number },
  models: number,
  test: SequentialTest,
): boolean {
  return lowerTail(tally.misses, tally.finalQueries, test.missRate) >= lookAlpha(test, models);
}

/** Each model's bounds at the look's alpha, for reports. */
export function boundsAt(tallies: readonly ModelTally[], test: SequentialTest): ModelBounds[] {
  const alpha = lookAlpha(test, tallies.length);
  return tallies.map((t) => ({
    ...t,
    lowerMissRate: lowerBound(t.misses, t.queries, alpha),
    upperMissRate: upperBound(t.misses, t.queries, alpha),
  }));
}

/** P(X <= k) for X ~ Binomial(n, p). */
export function lowerTail(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n || p <= 0) return 1;
  if (p >= 1) return 0;
  // Terms from i = 0 up: log C(n, i) p^i (1-p)^(n-i), each from the last.
  const logRatio = Math.log(p) - Math.log1p(-p);
  let logTerm = n * Math.log1p(-p);
  let logSum = logTerm;
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log(n - i + 1) - Math.log(i) + logRatio;
    logSum = logAddExp(logSum, logTerm);
  }
  return Math.min(1, Math.exp(logSum));
}

/** P(X >= k) for X ~ Binomial(n, p). */
export function upperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n || p <= 0) return 0;
  if (p >= 1) return 1;
  // At or below the mean the tail is large and the complement is exact enough; above it the
  // terms fall from k on, so sum them up from k until they no longer count.
  if (k <= n * p) return Math.max(0, 1 - lowerTail(k - 1, n, p));
  const logRatio = Math.log(p) - Math.log1p(-p);
  let logTerm = n * Math.log1p(-p);
  for (let i = 1; i <= k; i++) logTerm += Math.log(n - i + 1) - Math.log(i) + logRatio;
  let logSum = logTerm;
  for (let i = k + 1; i <= n && logTerm > logSum - 40; i++) {
    logTerm += Math.log(n - i + 1) - Math.log(i) + logRatio;
    logSum = logAddExp(logSum, logTerm);
  }
  return Math.min(1, Math.exp(logSum));
}

/** One-sided Clopper-Pearson upper bound: the p at which P(X <= k | n, p) = alpha. */
export function upperBound(k: number, n: number, alpha: number): number {
  if (n === 0 || k >= n) return 1;
  return bisect((p) => lowerTail(k, n, p) > alpha);
}

/** One-sided Clopper-Pearson lower bound: the p at which P(X >= k | n, p) = alpha. */
export function lowerBound(k: number, n: number, alpha: number): number {
  if (n === 0 || k <= 0) return 0;
  return bisect((p) => upperTail(k, n, p) < alpha);
}

/** The boundary in [0, 1] where `below(p)` turns false (below is true left of it). */
function bisect(below: (p: number) => boolean): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (below(mid)) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function logAddExp(a: number, b: number): number {
  const hi = Math.max(a, b);
  if (hi === -Infinity) return hi;
  return hi + Math.log(Math.exp(a - hi) + Math.exp(b - hi));
}
