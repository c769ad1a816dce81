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

/** Yields rates to try, is told whether each passed; returns the final [pass, fail] bracket. */
function* search(opts: PeakOptions): Generator<number, [number, number], boolean> {
  const tol = opts.relTolerance ?? 0.02;
  const maxRuns = opts.maxRuns ?? 40;
  const growth = opts.growth ?? 2;
  let [lo, hi] = opts.bracket ?? [0, Infinity];
  if (!opts.bracket) {
    let qps = opts.startQps;
    for (let runs = 0; runs < maxRuns; runs++) {
      if (yield qps) {
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
    if (yield mid) lo = mid;
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
    const passed = satisfaction >= target;
    points.push({ qps, satisfaction, passed });
    step = gen.next(passed);
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
    const passed = satisfaction >= target;
    points.push({ qps, satisfaction, passed });
    step = gen.next(passed);
  }
  return { peakQps: step.value[0], failQps: step.value[1], points };
}

/** A rate's decision on one seed (the protocol's sequential test, or any pass / fail rule). */
export type RateDecision = (qps: number, seed: number) => boolean;

export interface ConfirmedPeakOptions {
  startQps: number;
  /** Bisection stops, and confirmation steps down, at this relative resolution; default 0.025. */
  relResolution?: number;
  /** Widening factor of the first seed's bracket; default 2. */
  growth?: number;
}

export interface SeedPeak {
  seed: number;
  /** Highest rate that passed on this seed alone (0: none did). */
  peakQps: number;
}

export interface ConfirmedPeak {
  /** The highest rate found that passed on every seed (0: none did). */
  peakQps: number;
  perSeed: SeedPeak[];
  /** Mean and sample standard deviation of the per-seed peaks. */
  meanQps: number;
  spreadQps: number;
  /** Every decision made, in order. */
  decisions: { qps: number; seed: number; passed: boolean }[];
}

/**
 * The protocol's peak search (docs/evaluation.md, "Searching the peak"): satisfaction is not
 * monotone in the rate, so a bisected rate is only a candidate. Each seed's own peak is
 * bracketed and bisected on that seed alone; the highest of them is then confirmed on every
 * seed, stepping down by the resolution until one rate passes everywhere. By construction the
 * returned peak passed on every seed; decisions are made once per (rate, seed).
 */
export function confirmedPeak(
  decide: RateDecision,
  seeds: readonly number[],
  opts: ConfirmedPeakOptions,
): ConfirmedPeak {
  const resolution = opts.relResolution ?? 0.025;
  const decisions: ConfirmedPeak['decisions'] = [];
  const known = new Map<string, boolean>();
  const decided = (qps: number, seed: number): boolean => {
    const key = `${qps} ${seed}`;
    let passed = known.get(key);
    if (passed === undefined) {
      passed = decide(qps, seed);
      known.set(key, passed);
      decisions.push({ qps, seed, passed });
    }
    return passed;
  };
  const perSeed: SeedPeak[] = [];
  for (const seed of seeds) {
    // Later seeds start where the first one peaked: the same bracket, found in fewer runs.
    const first = perSeed.find((p) => p.peakQps > 0);
    const searchOpts: PeakOptions = first
      ? { startQps: first.peakQps, relTolerance: resolution, growth: 1 + 4 * resolution }
      : { startQps: opts.startQps, relTolerance: resolution, growth: opts.growth };
    const gen = search(searchOpts);
    let step = gen.next();
    while (!step.done) step = gen.next(decided(step.value, seed));
    perSeed.push({ seed, peakQps: step.value[0] });
  }
  const peaks = perSeed.map((p) => p.peakQps);
  let qps = Math.max(...peaks);
  const floor = Math.min(...peaks.filter((p) => p > 0)) / 4;
  while (qps > 0 && !seeds.every((seed) => decided(qps, seed))) {
    qps *= 1 - resolution;
    if (qps < floor) qps = 0;
  }
  return { peakQps: qps, perSeed, meanQps: mean(peaks), spreadQps: sampleStd(peaks), decisions };
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}
