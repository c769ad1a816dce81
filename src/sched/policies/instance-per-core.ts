/**
 * `instance-per-core`: what a careful user configures after reading ONNX Runtime's tuning
 * guides: one single-threaded instance per core, each able to run any model, fed from one
 * shared FIFO queue. A query runs its whole model on one core as soon as a core is free, oldest
 * first. The version follows `versionRule` (see `BaselineVersionRule`; 0, the one fastest
 * alone, is a plain ORT session with its default graph optimizations); with `drop`, a query that
 * cannot finish in time on one core is dropped instead of holding it (see `DropRule`).
 */
import { cannotMeet, chooseVersion, dispatch, dropParam, reject, versionRuleParam } from '../common.js';
import type { Decision, EngineView, PolicyParams, PolicySpec } from '../types.js';

export const instancePerCore = {
  name: 'instance-per-core',
  summary: 'one 1-thread instance per core, any model, one shared FIFO queue (the ORT tuning-guide setup)',
  role: 'baseline',
  paramGrid: { versionRule: [0, 1, 2], drop: [1, 2] },
  defaults: { versionRule: 0, drop: 1 },
  create(params: PolicyParams) {
    const versionRule = versionRuleParam(params.versionRule);
    const drop = dropParam(params.drop);
    return {
      name: 'instance-per-core',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const q of view.waiting) {
          if (cannotMeet(view, q, drop, 1)) {
            out.push(reject(q));
            continue;
          }
          if (free === 0) break;
          const pred = view.profile(q.model);
          const block = [q.nextLayer, pred.layerCount] as const;
          out.push(
            dispatch(q, block, 1, chooseVersion(pred, block, 1, view.interference, versionRule).version),
          );
          free--;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;
