/**
 * The evaluation protocol of docs/evaluation.md on the simulator: one rate decided by the
 * sequential per-model test, a policy's peak confirmed on every reporting seed, and its
 * parameters tuned on seeds the reporting never sees.
 */
import type { PolicyParams, PolicySpec } from '../sched/index.js';
import { FLUID_DIVISIONS, fluidEdf, simulate, type FluidDivision, type SimResult } from '../sim/index.js';
import type { QueryEnd } from '../engine/index.js';
import { VeltairError } from '../errors/index.js';
import { poissonArrivals } from './arrivals.js';
import { gridPoints, physicalLimitQps, policyContext, type Scenario } from './evaluate.js';
import { confirmedPeak, type ConfirmedPeak } from './peak.js';
import {
  PROTOCOL_TEST,
  boundsAt,
  cannotPass,
  verdictAt,
  type ModelBounds,
  type SequentialTest,
  type Verdict,
} from './sequential.js';

/** How a comparison decides rates and which seeds it tunes and reports on. */
export interface ProtocolSettings {
  readonly test: SequentialTest;
  /** Seeds whose traces (and hidden machines) the reported figures come from. */
  readonly reportingSeeds: readonly number[];
  /** Seeds the parameters are chosen on, disjoint from the reporting ones. */
  readonly tuningSeeds: readonly number[];
}

/** docs/evaluation.md. */
export const PROTOCOL: ProtocolSettings = {
  test: PROTOCOL_TEST,
  reportingSeeds: [1, 2, 3, 4, 5],
  tuningSeeds: [101, 102, 103],
};

/** Relative resolution of the peak search and of the confirmation's steps. */
export const PEAK_RESOLUTION = 0.025;

/** Where `settings` departs from the protocol (empty: it follows it), for every report to print. */
export function deviationsFrom(settings: ProtocolSettings): string[] {
  const out: string[] = [];
  const t = settings.test;
  if (t.chunkQueries !== PROTOCOL_TEST.chunkQueries || t.maxQueries !== PROTOCOL_TEST.maxQueries)
    out.push(`runs of ${t.chunkQueries}-query chunks up to ${t.maxQueries} (protocol: 2000 up to 64000)`);
  if (t.missRate !== PROTOCOL_TEST.missRate || t.familyAlpha !== PROTOCOL_TEST.familyAlpha)
    out.push(`miss rate ${t.missRate} at family alpha ${t.familyAlpha} (protocol: 0.01 at 0.05)`);
  if (settings.reportingSeeds.join() !== PROTOCOL.reportingSeeds.join())
    out.push(`reporting seeds ${settings.reportingSeeds.join(',')} (protocol: 1-5)`);
  if (settings.tuningSeeds.join() !== PROTOCOL.tuningSeeds.join())
    out.push(`tuning seeds ${settings.tuningSeeds.join(',')} (protocol: 101-103)`);
  if (settings.tuningSeeds.some((s) => settings.reportingSeeds.includes(s)))
    out.push('tuning and reporting seeds overlap');
  return out;
}

/** One rate decided on one seed. */
export interface RateRun {
  qps: number;
  seed: number;
  verdict: Verdict;
  /** Queries the verdict rests on: the first this many arrivals, all of them ended. */
  decidedQueries: number;
  /** Each model's tally and bounds at the deciding look. */
  models: ModelBounds[];
  /** The simulated run, up to where the verdict stopped it. */
  sim: SimResult;
}

/**
 * Runs `spec` at `qps` on `seed` until the sequential test decides. A look counts the first
 * `k x chunkQueries` arrivals once every one of them has ended (later arrivals that ended
 * sooner wait for their look); queries still inside when the arrivals run out are misses.
 */
export function runRate(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  qps: number,
  seed: number,
  test: SequentialTest = PROTOCOL_TEST,
): RateRun {
  const { arrivals, looks } = traceWithLooks(scn, qps, seed, test);
  const sim = simulate({
    totalCores: scn.totalCores,
    predictors: scn.predictors,
    qosTargetMs: scn.qosTargetMs,
    arrivals,
    policy: spec.create(params, policyContext(scn)),
    seed,
    noise: scn.noise,
    dispatchOverheadUs: scn.dispatchOverheadUs,
    expireLate: scn.expireLate,
    truth: scn.truth,
    onQueryEnd: (end) => looks.end(end),
    stopWhen: () => looks.verdict !== undefined,
  });
  return { qps, seed, verdict: looks.finish(), ...looks.decidedOn(), sim };
}

/** The trace of (`qps`, `seed`) and the looks that will decide it. */
function traceWithLooks(scn: Scenario, qps: number, seed: number, test: SequentialTest) {
  const arrivals = poissonArrivals(scn.weights, qps, test.maxQueries, seed);
  const looks = new LookTracker(
    arrivals.map((a) => a.model),
    Object.keys(scn.weights),
    test,
  );
  return { arrivals, looks };
}

interface Tally {
  /** Among the arrivals up to the frontier. */
  queries: number;
  misses: number;
  /** Misses among every arrival that has ended, and arrivals of the model in the whole run. */
  missesSoFar: number;
  finalQueries: number;
}

/**
 * Follows which of the first arrivals have ended, looks at every chunk boundary, and ends the
 * run early, as failed, once a model has missed too often to pass at the last look.
 */
class LookTracker {
  /** Per arrival: 0 inside, 1 satisfied, 2 missed. */
  private readonly outcome: Uint8Array;
  private frontier = 0;
  private readonly tallies = new Map<string, Tally>();
  private lastLook: ModelBounds[] = [];
  verdict: Verdict | undefined;

  constructor(
    private readonly modelOf: readonly string[],
    models: readonly string[],
    private readonly test: SequentialTest,
  ) {
    this.outcome = new Uint8Array(modelOf.length);
    for (const m of [...models].sort())
      this.tallies.set(m, { queries: 0, misses: 0, missesSoFar: 0, finalQueries: 0 });
    for (const m of modelOf) (this.tallies.get(m) as Tally).finalQueries++;
  }

  end(q: QueryEnd): void {
    this.outcome[q.index] = q.satisfied ? 1 : 2;
    if (!q.satisfied) {
      // Only the model that just missed can have lost its chance to pass.
      const t = this.tallies.get(q.model) as Tally;
      t.missesSoFar++;
      if (cannotPass({ misses: t.missesSoFar, finalQueries: t.finalQueries }, this.tallies.size, this.test)) {
        this.look();
        this.verdict = 'undecided';
        return;
      }
    }
    this.advance();
  }

  /** The run is over (or was stopped): whatever is still inside can only miss. The verdict. */
  finish(): Verdict {
    if (this.verdict !== undefined) return this.verdict;
    for (let i = this.frontier; i < this.outcome.length; i++) if (this.outcome[i] === 0) this.outcome[i] = 2;
    this.advance();
    this.verdict ??= 'undecided';
    return this.verdict;
  }

  decidedOn(): { decidedQueries: number; models: ModelBounds[] } {
    const decidedQueries = this.lastLook.reduce((n, m) => n + m.queries, 0);
    return { decidedQueries, models: this.lastLook };
  }

  private advance(): void {
    while (
      this.verdict === undefined &&
      this.frontier < this.outcome.length &&
      this.outcome[this.frontier] !== 0
    ) {
      const t = this.tallies.get(this.modelOf[this.frontier]) as Tally;
      t.queries++;
      if (this.outcome[this.frontier] === 2) t.misses++;
      this.frontier++;
      if (this.frontier % this.test.chunkQueries === 0 || this.frontier === this.outcome.length) this.look();
    }
  }

  private look(): void {
    const tallies = [...this.tallies].map(([model, t]) => ({ model, queries: t.queries, misses: t.misses }));
    this.lastLook = boundsAt(tallies, this.test);
    const v = verdictAt(tallies, this.test);
    if (v !== 'undecided' || this.frontier === this.outcome.length) this.verdict = v;
  }
}

/** The idealised reference's confirmed peak, and the division that reached it. */
export interface IdealPeak extends ConfirmedPeak {
  division: FluidDivision;
}

/** What reports keep of an `IdealPeak`: its peak and the division of the cores that reached it. */
export type IdealReference = Pick<IdealPeak, 'peakQps' | 'division'>;

/**
 * The idealised reference's peak (`fluidEdf`: preemptive EDF on a fluid machine that is the
 * profiles themselves), decided by the same test on the same traces and confirmed on `seeds`:
 * the higher of its divisions of the cores (both by default), since neither greedy rule is best
 * everywhere.
 */
export function idealPeak(
  scn: Scenario,
  seeds: readonly number[],
  test: SequentialTest,
  divisions: readonly FluidDivision[] = FLUID_DIVISIONS,
): IdealPeak {
  if (divisions.length === 0)
    throw new VeltairError('invalid_argument', 'the idealised peak needs a division');
  const peaks = divisions.map((division) => ({ ...idealPeakOf(scn, seeds, test, division), division }));
  return peaks.reduce((best, p) => (p.peakQps > best.peakQps ? p : best));
}

function idealPeakOf(
  scn: Scenario,
  seeds: readonly number[],
  test: SequentialTest,
  division: FluidDivision,
): ConfirmedPeak {
  return confirmedPeak(
    (qps, seed) => {
      const { arrivals, looks } = traceWithLooks(scn, qps, seed, test);
      fluidEdf({
        totalCores: scn.totalCores,
        predictors: scn.predictors,
        qosTargetMs: scn.qosTargetMs,
        arrivals,
        division,
        onQueryEnd: (end) => looks.end(end),
        stopWhen: () => looks.verdict !== undefined,
      });
      return looks.finish() === 'pass';
    },
    seeds,
    { startQps: physicalLimitQps(scn) / 4, relResolution: PEAK_RESOLUTION },
  );
}

/** A policy's peak under the protocol, with the run that decided each (rate, seed). */
export interface ProtocolPeak extends ConfirmedPeak {
  runs: RateRun[];
}

/** The confirmed peak of `spec` with `params` over `seeds`. */
export function protocolPeak(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  seeds: readonly number[],
  test: SequentialTest,
  start: { startQps: number; growth?: number } = { startQps: physicalLimitQps(scn) / 4 },
): ProtocolPeak {
  const runs: RateRun[] = [];
  const peak = confirmedPeak(
    (qps, seed) => {
      const run = runRate(scn, spec, params, qps, seed, test);
      runs.push(run);
      return run.verdict === 'pass';
    },
    seeds,
    { ...start, relResolution: PEAK_RESOLUTION },
  );
  return { ...peak, runs };
}

export interface ProtocolTuning {
  params: PolicyParams;
  /** The chosen point's confirmed peak on the tuning seeds. */
  tuningPeakQps: number;
  /** Every grid point: its confirmed tuning peak, or null where it failed at the best peak so far. */
  tried: { params: PolicyParams; peakQps: number | null }[];
}

/**
 * Chooses `spec`'s parameters on the tuning seeds: the grid point with the highest confirmed
 * peak there. After the first point, a point is searched only if it passes on every tuning seed
 * at the best peak so far x (1 + resolution); one that fails there is unlikely to beat the best
 * (satisfaction is not monotone, so this prunes, it does not prove). Ties go to the earlier point.
 */
export function tuneOnProtocol(scn: Scenario, spec: PolicySpec, settings: ProtocolSettings): ProtocolTuning {
  const seeds = settings.tuningSeeds;
  const tried: ProtocolTuning['tried'] = [];
  let best: { params: PolicyParams; peakQps: number } | undefined;
  for (const params of gridPoints(spec)) {
    let start: { startQps: number; growth?: number } | undefined;
    if (best && best.peakQps > 0) {
      const bar = best.peakQps * (1 + PEAK_RESOLUTION);
      if (!seeds.every((seed) => runRate(scn, spec, params, bar, seed, settings.test).verdict === 'pass')) {
        tried.push({ params, peakQps: null });
        continue;
      }
      start = { startQps: bar, growth: 1.1 };
    }
    const peak = protocolPeak(scn, spec, params, seeds, settings.test, start);
    tried.push({ params, peakQps: peak.peakQps });
    if (!best || peak.peakQps > best.peakQps) best = { params, peakQps: peak.peakQps };
  }
  return { params: best?.params ?? spec.defaults, tuningPeakQps: best?.peakQps ?? 0, tried };
}
