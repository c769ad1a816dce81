/**
 * Small pure helpers shared by the policies. Nothing here keeps state or does I/O.
 */
import type { ProfilePredictor } from '../profile/index.js';
import type { Decision, EngineView, PolicyContext, Query } from './types.js';

/** Waiting queries, earliest deadline first; ties keep arrival order (the sort is stable). */
export function earliestDeadlineFirst(view: EngineView): Query[] {
  return [...view.waiting].sort((a, b) => a.deadlineMs - b.deadlineMs);
}

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
 * The version a single-version system would run: the one fastest alone (no interference) for
 * the block on these cores. Baselines use it; they stand for systems without adaptive
 * compilation.
 */
export function soloVersion(pred: ProfilePredictor, block: readonly [number, number], cores: number): string {
  return pred.predict(block[0], block[1], cores, 0).version;
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
