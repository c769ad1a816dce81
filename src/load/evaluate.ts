/**
 * Simulated evaluation: run one policy at one rate, find its peak, tune it over its grid,
 * and compare policies side by side. Every policy gets the same search, so baselines run
 * at their best settings.
 */
import type { ProfilePredictor } from '../profile/index.js';
import type { PolicyContext, PolicyParams, PolicySpec } from '../sched/index.js';
import {
  leastCoreTimeUs,
  simulate,
  type NoiseModel,
  type SimResult,
  type TruthSetting,
} from '../sim/index.js';
import { poissonArrivals } from './arrivals.js';
import { findPeak, type PeakPoint, type PeakResult } from './peak.js';
import { VeltairError } from '../errors/index.js';

export const SATISFACTION_TARGET = 0.99;

/** One machine + one workload: everything a run needs but the policy and the rate. */
export interface Scenario {
  workload: string;
  totalCores: number;
  /** Profiles of the mix's models. */
  predictors: ReadonlyMap<string, ProfilePredictor>;
  weights: Readonly<Record<string, number>>;
  qosTargetMs: Readonly<Record<string, number>>;
  /** Queries per run. */
  queries: number;
  seed: number;
  noise?: NoiseModel;
  dispatchOverheadUs?: number;
  /** Expire waiting queries past their deadline, as the live engine does. */
  expireLate?: boolean;
  /** Which machine runs the blocks: the profiles themselves (default) or one drawn around them. */
  truth?: TruthSetting;
}

export function policyContext(scn: Scenario): PolicyContext {
  return {
    totalCores: scn.totalCores,
    modelWeights: scn.weights,
    qosTargetMs: scn.qosTargetMs,
    profile(model: string): ProfilePredictor {
      const p = scn.predictors.get(model);
      if (!p) throw new VeltairError('profile_unavailable', `no profile for model '${model}'`);
      return p;
    },
  };
}

/**
 * One simulated run at `qps`. With `stopBelow`, the run ends as soon as its satisfaction
 * can no longer reach it (the peak search only needs pass / fail).
 */
export function runPoint(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  qps: number,
  opts: { stopBelow?: number; trace?: boolean } = {},
): SimResult {
  return simulate({
    totalCores: scn.totalCores,
    predictors: scn.predictors,
    qosTargetMs: scn.qosTargetMs,
    arrivals: poissonArrivals(scn.weights, qps, scn.queries, scn.seed),
    policy: spec.create(params, policyContext(scn)),
    seed: scn.seed,
    noise: scn.noise,
    dispatchOverheadUs: scn.dispatchOverheadUs,
    maxMisses: opts.stopBelow === undefined ? undefined : Math.floor((1 - opts.stopBelow) * scn.queries),
    trace: opts.trace,
    expireLate: scn.expireLate,
    truth: scn.truth,
  });
}

/** Cores divided by the mix's least core-time per query: no scheduler can serve more. */
export function physicalLimitQps(scn: Scenario): number {
  let coreUsPerQuery = 0;
  for (const [m, w] of Object.entries(scn.weights)) {
    const pred = scn.predictors.get(m);
    if (pred) coreUsPerQuery += w * leastCoreTimeUs(pred);
  }
  return (scn.totalCores * 1e6) / coreUsPerQuery;
}

/** A peak search's result, with the complete run at the peak rate (undefined when none passed). */
export interface MeasuredPeak extends PeakResult {
  atPeak?: SimResult;
}

export function peakOf(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  opts: {
    relTolerance: number;
    bracket?: readonly [number, number];
    startQps?: number;
    growth?: number;
    /** Runs already made at some rates (with stopBelow at the target): not repeated. */
    known?: ReadonlyMap<number, SimResult>;
  },
): MeasuredPeak {
  // A passing run never stops early, so the run at the peak is the complete run there:
  // keep it instead of simulating that rate again.
  const passed = new Map<number, SimResult>();
  const measure = (qps: number) => {
    const r = opts.known?.get(qps) ?? runPoint(scn, spec, params, qps, { stopBelow: SATISFACTION_TARGET });
    if (r.complete && r.satisfaction >= SATISFACTION_TARGET) passed.set(qps, r);
    return r.satisfaction;
  };
  const result = findPeak(measure, {
    target: SATISFACTION_TARGET,
    startQps: opts.startQps ?? physicalLimitQps(scn) / 4,
    relTolerance: opts.relTolerance,
    bracket: opts.bracket,
    growth: opts.growth,
  });
  return { ...result, atPeak: passed.get(result.peakQps) };
}

/** Every combination of the grid's values, over the defaults; [defaults] for an empty grid. */
export function gridPoints(spec: PolicySpec): PolicyParams[] {
  let points: Record<string, number>[] = [{ ...spec.defaults }];
  for (const [name, values] of Object.entries(spec.paramGrid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  }
  return points;
}

export interface Tuned {
  params: PolicyParams;
  peakQps: number;
  points: PeakPoint[];
  /** The complete run at the chosen peak (undefined when nothing passed). */
  atPeak?: SimResult;
  /** Every grid point: its peak, or null where it failed at `belowQps` (pruned). */
  tried: { params: PolicyParams; peakQps: number | null; belowQps: number }[];
}

/**
 * Branch and bound over the grid: the first point (the defaults, where the grid holds them)
 * gets a full peak search; every other point is first run once at the best peak so far
 * x (1 + relTolerance), and searched fully only when it passes there, since otherwise it
 * cannot beat the best by more than the tolerance. Same answer as searching every point,
 * at a fraction of the runs. Ties go to the earlier grid point. With `outOfTime`, asked before
 * each point after the first, the search ends early with the best point so far.
 */
export function tunePolicy(
  scn: Scenario,
  spec: PolicySpec,
  relTolerance = 0.02,
  outOfTime: () => boolean = () => false,
): Tuned {
  const grid = gridPoints(spec);
  const tried: Tuned['tried'] = [];
  let best: { params: PolicyParams; result: MeasuredPeak } | undefined;
  for (const params of grid) {
    if (best && outOfTime()) break;
    let result: MeasuredPeak;
    if (!best || best.result.peakQps === 0) {
      result = peakOf(scn, spec, params, { relTolerance });
    } else {
      const bar = best.result.peakQps * (1 + relTolerance);
      const atBar = runPoint(scn, spec, params, bar, { stopBelow: SATISFACTION_TARGET });
      if (atBar.satisfaction < SATISFACTION_TARGET) {
        tried.push({ params, peakQps: null, belowQps: bar });
        continue;
      }
      const known = new Map([[bar, atBar]]);
      result = peakOf(scn, spec, params, { relTolerance, startQps: bar, growth: 1.25, known });
    }
    tried.push({ params, peakQps: result.peakQps, belowQps: result.failQps });
    if (!best || result.peakQps > best.result.peakQps) best = { params, result };
  }
  const chosen = best ?? { params: spec.defaults, result: { peakQps: 0, failQps: 0, points: [] } };
  const { peakQps, points, atPeak } = chosen.result;
  return { params: chosen.params, peakQps, points, atPeak, tried };
}
