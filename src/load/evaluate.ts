/**
 * Simulated runs of one policy: at one rate, and a fixed-length peak search over rates; the
 * scenario they run in, and a policy's grid of parameters. The protocol (protocol.ts) and the
 * live engine's tuning (tuning.ts) build on them.
 */
import type { ProfilePredictor } from '../profile/index.js';
import type { Policy, PolicyContext, PolicyParams, PolicySpec } from '../sched/index.js';
import {
  leastCoreTimeUs,
  simulate,
  type Arrival,
  type NoiseModel,
  type SimOptions,
  type SimResult,
  type TruthSetting,
} from '../sim/index.js';
import { poissonArrivals } from './arrivals.js';
import { findPeak, type PeakResult } from './peak.js';
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
    ...scenarioSimOptions(
      scn,
      spec.create(params, policyContext(scn)),
      poissonArrivals(scn.weights, qps, scn.queries, scn.seed),
      scn.seed,
    ),
    maxMisses: opts.stopBelow === undefined ? undefined : Math.floor((1 - opts.stopBelow) * scn.queries),
    trace: opts.trace,
  });
}

/** `scn`'s machine running `policy` on `arrivals`, its noise drawn from `seed`. */
export function scenarioSimOptions(
  scn: Scenario,
  policy: Policy,
  arrivals: readonly Arrival[],
  seed: number,
): SimOptions {
  return {
    totalCores: scn.totalCores,
    predictors: scn.predictors,
    qosTargetMs: scn.qosTargetMs,
    arrivals,
    policy,
    seed,
    noise: scn.noise,
    dispatchOverheadUs: scn.dispatchOverheadUs,
    expireLate: scn.expireLate,
    truth: scn.truth,
  };
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

/**
 * `spec`'s peak with `params` on `scn`: the highest rate found where every model of the mix
 * reaches the target, as the live bench decides a rate.
 */
export function peakOf(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  opts: { relTolerance: number },
): PeakResult {
  const measure = (qps: number) =>
    lowestModelSatisfaction(runPoint(scn, spec, params, qps, { stopBelow: SATISFACTION_TARGET }));
  return findPeak(measure, {
    target: SATISFACTION_TARGET,
    startQps: physicalLimitQps(scn) / 4,
    relTolerance: opts.relTolerance,
  });
}

/**
 * The least satisfied model's share of satisfied queries. A run stopped early has missed more
 * than the target allows over all models, so some model has too: its pooled bound stands.
 */
export function lowestModelSatisfaction(r: SimResult): number {
  if (!r.complete) return r.satisfaction;
  return Math.min(1, ...r.perModel.map((m) => (m.queries === 0 ? 1 : m.satisfied / m.queries)));
}

/** Every combination of the grid's values, over the defaults; [defaults] for an empty grid. */
export function gridPoints(spec: PolicySpec): PolicyParams[] {
  let points: Record<string, number>[] = [{ ...spec.defaults }];
  for (const [name, values] of Object.entries(spec.paramGrid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  }
  return points;
}
