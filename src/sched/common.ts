/**
 * Small pure helpers shared by the policies. Nothing here keeps state or does I/O.
 */
import { blockPressure, type ProfilePredictor } from '../profile/index.js';
import { layerTable, type VersionRule } from './plan.js';
import type { Decision, EngineView, PolicyContext, Query } from './types.js';

export function dispatch(
  query: Query,
  block: readonly [number, number],
  cores: number,
  version: string,
  wantedCores?: number,
): Decision {
  const d = { kind: 'dispatch', query: query.id, block, cores, version } as const;
  return wantedCores !== undefined && wantedCores > cores ? { ...d, wantedCores } : d;
}

/** The core count (up to `limit`) with the lowest solo latency for the whole model. */
export function bestCores(pred: ProfilePredictor, limit: number): number {
  let best = 1;
  let bestUs = Infinity;
  for (let c = 1; c <= Math.min(limit, pred.maxCores); c++) {
    const us = pred.predict(0, pred.layerCount, c, 0).latencyUs;
    if (us < bestUs) [best, bestUs] = [c, us];
  }
  return best;
}

/**
 * Per-model core count for model-wise baselines: the fewest cores on which the whole model,
 * alone, takes at most `share` of its QoS target; the fastest core count when none does.
 */
export function coresForShare(
  pred: ProfilePredictor,
  qosMs: number,
  share: number,
  totalCores: number,
): number {
  const limit = Math.min(totalCores, pred.maxCores);
  const fastest = bestCores(pred, limit);
  for (let c = 1; c < fastest; c++) {
    if (pred.predict(0, pred.layerCount, c, 0).latencyUs <= share * qosMs * 1000) return c;
  }
  return fastest;
}

/**
 * Per-model core counts (see `coresForShare`), computed once per model; a model missing from
 * the context takes its QoS target from the query (deadline minus arrival).
 */
export function coresPerModel(
  ctx: PolicyContext,
  share: number,
): (query: Pick<Query, 'model' | 'deadlineMs' | 'arrivalMs'>) => number {
  const counts = new Map<string, number>();
  for (const model of Object.keys(ctx.modelWeights)) {
    counts.set(model, coresForShare(ctx.profile(model), ctx.qosTargetMs[model], share, ctx.totalCores));
  }
  return (query) => {
    let c = counts.get(query.model);
    if (c === undefined) {
      const qosMs = query.deadlineMs - query.arrivalMs;
      c = coresForShare(ctx.profile(query.model), qosMs, share, ctx.totalCores);
      counts.set(query.model, c);
    }
    return c;
  };
}

/**
 * How a baseline picks a block's version, its `versionRule` grid parameter:
 * - 0 `fastest-alone`: the version fastest with no interference (a system without adaptive
 *   compilation);
 * - 1 `gentlest`: of the versions at most `GENTLE_SLOWDOWN` slower alone than the fastest, the
 *   one putting the least pressure on shared caches and memory (a static choice for co-location);
 * - 2 `by-level`: the version fastest at the interference expected now, as veltair chooses.
 */
export type BaselineVersionRule = 'fastest-alone' | 'gentlest' | 'by-level';

const VERSION_RULES: readonly BaselineVersionRule[] = ['fastest-alone', 'gentlest', 'by-level'];

/** How much slower alone than the fastest a version may be and still count as gentle. */
export const GENTLE_SLOWDOWN = 1.25;

export function versionRuleParam(param: number | undefined): BaselineVersionRule {
  return VERSION_RULES[Math.max(0, Math.min(2, Math.round(param ?? 0)))];
}

/** The rule `planBlock` plans with: versions by level for `by-level`, else the one fastest alone. */
export function planningRule(rule: BaselineVersionRule): VersionRule {
  return rule === 'by-level' ? 'adaptive' : 'solo-fastest';
}

/** Version of `block` on `cores` under `rule`, and its latency at interference `level` (us). */
export function chooseVersion(
  pred: ProfilePredictor,
  block: readonly [number, number],
  cores: number,
  level: number,
  rule: BaselineVersionRule,
): { version: string; latencyUs: number } {
  const [i, j] = block;
  if (rule === 'by-level') return pred.predict(i, j, cores, level);
  const fastest = pred.predict(i, j, cores, 0);
  let version = fastest.version;
  if (rule === 'gentlest') {
    let least = blockPressure(pred, i, j, version, 'work');
    for (const v of pred.versions) {
      if (!pred.competes(i, j, v) || pred.blockUs(i, j, v, cores, 0) > fastest.latencyUs * GENTLE_SLOWDOWN) {
        continue;
      }
      const pressure = blockPressure(pred, i, j, v, 'work');
      if (pressure < least) [version, least] = [v, pressure];
    }
  }
  return { version, latencyUs: pred.blockUs(i, j, version, cores, level) };
}

/**
 * Which queries a baseline drops early, its `drop` grid parameter:
 * - 0 `never`;
 * - 1 `certain`: it cannot finish in time even with no interference (a certain miss);
 * - 2 `likely`: it cannot finish in time at the interference expected now.
 */
export type DropRule = 'never' | 'certain' | 'likely';

export function dropParam(param: number | undefined): DropRule {
  return (['never', 'certain', 'likely'] as const)[Math.max(0, Math.min(2, Math.round(param ?? 0)))];
}

/**
 * Whether `query` should be dropped under `rule`: the rest of its model cannot finish by its
 * deadline on the best core count, or on `cores` when the policy runs the model on a fixed count.
 */
export function cannotMeet(view: EngineView, query: Query, rule: DropRule, cores?: number): boolean {
  if (rule === 'never') return false;
  const pred = view.profile(query.model);
  const level = rule === 'likely' ? view.interference : 0;
  const leastUs =
    cores === undefined
      ? layerTable(pred, level, 'adaptive').minRemainingUs[query.nextLayer]
      : pred.predict(query.nextLayer, pred.layerCount, cores, level).latencyUs;
  return view.nowMs + leastUs / 1000 > query.deadlineMs;
}

export function reject(query: Query): Decision {
  return { kind: 'reject', query: query.id, reason: 'deadline_unreachable' };
}
