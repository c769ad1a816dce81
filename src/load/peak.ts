/**
 * Peak-QPS search (MLPerf LoadGen's FindPeakPerformance): the highest arrival rate whose
 * satisfaction rate is at least the target. Widen by doubling (or halving) from a start
 * rate until one rate passes and one fails, then bisect until the bracket is within the
 * relative tolerance. The search is a generator of rates, so the simulator (synchronous)
 * and the live benchmark (asynchronous) share it.
 */
export interface PeakOptions {
  /** Satisfaction a rate must reach to pass; default 0.99. */
  target?: number;
  startQps: number;
  /** Stop when (fail - pass) / pass is at most this; default 0.02. */
  relTolerance?: number;
  /** Known pass / fail rates: skip widening. */
  bracket?: readonly [number, number];
  /** Give up widening after this many runs; default 40. */
  maxRuns?: number;
  /** Widening factor; default 2 (use less when `startQps` is already a good guess). */
  growth?: number;
  /** Give up widening downwards below this rate: nothing passes (default startQps / 1024). */
  minQps?: number;
}

export interface PeakPoint {
  qps: number;
  satisfaction: number;
  passed: boolean;
}

export interface PeakResult {
  /** Highest passing rate found (0 when even the lowest rate tried failed). */
  peakQps: number;
  /** Lowest failing rate found (Infinity when none failed within maxRuns). */
  failQps: number;
  points: PeakPoint[];
}

function* search(opts: PeakOptions): Generator<number, [number, number], number> {
  const target = opts.target ?? 0.99;
  const tol = opts.relTolerance ?? 0.02;
  const maxRuns = opts.maxRuns ?? 40;
  const growth = opts.growth ?? 2;
  let [lo, hi] = opts.bracket ?? [0, Infinity];
  if (!opts.bracket) {
    let qps = opts.startQps;
    for (let runs = 0; runs < maxRuns; runs++) {
      if ((yield qps) >= target) {
        lo = qps;
        if (hi !== Infinity) break;
        qps *= growth;
      } else {
        hi = qps;
        if (lo > 0 || qps < (opts.minQps ?? opts.startQps / 1024)) break; // bracketed, or nothing passes
        qps /= growth;
      }
    }
  }
  while (lo > 0 && hi !== Infinity && (hi - lo) / lo > tol) {
    const mid = (lo + hi) / 2;
    if ((yield mid) >= target) lo = mid;
    else hi = mid;
  }
  return [lo, hi];
}

export function findPeak(measure: (qps: number) => number, opts: PeakOptions): PeakResult {
  const target = opts.target ?? 0.99;
  const points: PeakPoint[] = [];
  const gen = search(opts);
  let step = gen.next();
  while (!step.done) {
    const qps = step.value;
    const satisfaction = measure(qps);
    points.push({ qps, satisfaction, passed: satisfaction >= target });
    step = gen.next(satisfaction);
  }
  return { peakQps: step.value[0], failQps: step.value[1], points };
}

export async function findPeakAsync(
  measure: (qps: number) => Promise<number>,
  opts: PeakOptions,
): Promise<PeakResult> {
  const target = opts.target ?? 0.99;
  const points: PeakPoint[] = [];
  const gen = search(opts);
  let step = gen.next();
  while (!step.done) {
    const qps = step.value;
    const satisfaction = await measure(qps);
    points.push({ qps, satisfaction, passed: satisfaction >= target });
    step = gen.next(satisfaction);
  }
  return { peakQps: step.value[0], failQps: step.value[1], points };
}
