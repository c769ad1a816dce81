/**
 * `model-fcfs`: model-wise first-come-first-served. Each query runs its whole model as one
 * block on a fixed core count, the same for every query of a model (how a server with one
 * thread-pool size per session runs: TF Serving or ORT with a fixed `intraOpNumThreads`).
 * The count is the fewest cores on which the model alone takes at most `qosShare` of its QoS
 * target (tuned). Strict FCFS: when the oldest waiting query does not fit in the free cores,
 * nothing behind it starts. One version: the one fastest alone.
 */
import { coresPerModel, dispatch, soloVersion } from '../common.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec } from '../types.js';

export const modelFcfs = {
  name: 'model-fcfs',
  summary:
    'model-wise FCFS: every query of a model holds the same core count for its whole run, oldest first',
  role: 'baseline',
  paramGrid: { qosShare: [0.15, 0.25, 0.35, 0.5, 0.7, 0.9] },
  defaults: { qosShare: 0.5 },
  create(params: PolicyParams, ctx: PolicyContext) {
    const coresOf = coresPerModel(ctx, params.qosShare ?? 0.5);
    return {
      name: 'model-fcfs',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const q of view.waiting) {
          const pred = view.profile(q.model);
          const c = q.lastCores ?? coresOf(q);
          if (c > free) break; // strict FCFS: no overtaking
          const block = [q.nextLayer, pred.layerCount] as const;
          out.push(dispatch(q, block, c, q.lastVersion ?? soloVersion(pred, block, c)));
          free -= c;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;
