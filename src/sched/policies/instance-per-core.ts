/**
 * `instance-per-core`: what a careful user configures after reading ONNX Runtime's tuning
 * guides: one single-threaded instance per core, each able to run any model, fed from one
 * shared FIFO queue. A query runs its whole model on one core as soon as a core is free, oldest
 * first; the version is the one fastest alone (a plain ORT session with its default graph
 * optimizations).
 */
import { dispatch, soloVersion } from '../common.js';
import type { Decision, EngineView, PolicySpec } from '../types.js';

export const instancePerCore = {
  name: 'instance-per-core',
  summary: 'one 1-thread instance per core, any model, one shared FIFO queue (the ORT tuning-guide setup)',
  role: 'baseline',
  paramGrid: {},
  defaults: {},
  create() {
    return {
      name: 'instance-per-core',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const q of view.waiting) {
          if (free === 0) break;
          const pred = view.profile(q.model);
          const block = [q.nextLayer, pred.layerCount] as const;
          out.push(dispatch(q, block, 1, soloVersion(pred, block, 1)));
          free--;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;
