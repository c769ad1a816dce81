import type { Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/** In-block latency on c cores no lower than the 1-core in-block latency / c. */
export const linearFloor: CorrectionStage = {
  name: 'linear-floor',
  corrects:
    "c threads do not run a layer's kernels faster than 1/c of one thread's time, but the split of " +
    'a one-layer run into in-block latency and end cost is a difference of noisy runs, enlarged by ' +
    'the end-cost scale, and on more cores it can leave almost nothing in the block. The floor ' +
    'moves what it adds from the end cost, so a one-layer block still sums to its measured run.',
  apply: (a: Assembly): Assembly => ({ ...a, linearFloor: true }),
};
