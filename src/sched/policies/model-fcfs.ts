/**
 * `model-fcfs`: model-wise first-come-first-served. Each query runs its whole model as one
 * block on a fixed core count, the same for every query of a model (how a server with one
 * thread-pool size per session runs: TF Serving or ORT with a fixed `intraOpNumThreads`).
 * The count is the fewest cores on which the model alone takes at most `qosShare` of its QoS
 * target (tuned). Strict FCFS: when the oldest waiting query does not fit in the free cores,
 * nothing behind it starts. The version follows `versionRule` (see `BaselineVersionRule`);
 * with `drop`, a query that cannot finish in time on its model's cores is dropped instead of
 * holding them (see `DropRule`).
 */
import {
  cannotMeet,
  chooseVersion,
  coresPerModel,
  dispatch,
  dropParam,
  reject,
  versionRuleParam,
} from '../common.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec } from '../types.js';

export const modelFcfs = {
  name: 'model-fcfs',
  summary:
    'model-wise FCFS: every query of a model holds the same core count for its whole run, oldest first',
  role: 'baseline',
  paramGrid: { qosShare: [0.15, 0.35, 0.5, 0.7], versionRule: [0, 1, 2], drop: [1, 2] },
  defaults: { qosShare: 0.5, versionRule: 0, drop: 1 },
  create(params: PolicyParams, ctx: PolicyContext) {
    const coresOf = coresPerModel(ctx, params.qosShare ?? 0.5);
    const versionRule = versionRuleParam(params.versionRule);
    const drop = dropParam(params.drop);
    return {
      name: 'model-fcfs',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const q of view.waiting) {
          const pred = view.profile(q.model);
          const c = q.lastCores ?? coresOf(q);
          if (cannotMeet(view, q, drop, c)) {
            out.push(reject(q));
            continue;
          }
          if (c > free) break; // strict FCFS: no overtaking
          const block = [q.nextLayer, pred.layerCount] as const;
          const version =
            q.lastVersion ?? chooseVersion(pred, block, c, view.interference, versionRule).version;
          out.push(dispatch(q, block, c, version));
          free -= c;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;
