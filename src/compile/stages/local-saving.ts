import { localSavingScale } from '../runcost.js';
import type { Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/** Each layer's end cost scaled by g interpolated between the coarse blocks' centres. */
export const localSaving: CorrectionStage = {
  name: 'local-saving',
  corrects:
    'Junction savings are not alike along a model: early layers hand on megabytes of activations, ' +
    'late ones kilobytes, and a block of either saves a different multiple of what its pairs ' +
    "measured. Each layer's end cost is scaled by the factor of the coarse blocks around it, " +
    'interpolated linearly between their centres.',
  apply: (a: Assembly): Assembly => ({
    ...a,
    endCostScale: localSavingScale(
      a.raw.layers,
      a.raw.tensors,
      a.fitted,
      a.raw.coarse,
      a.raw.settings.coreCounts.length,
    ),
  }),
};
