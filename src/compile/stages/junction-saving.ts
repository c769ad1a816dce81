import { savingScale } from '../runcost.js';
import type { Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/** The fitted per-MiB run cost scaled by the median ratio g the coarse blocks need. */
export const junctionSaving: CorrectionStage = {
  name: 'junction-saving',
  corrects:
    'A long block saves more at its junctions than pairs of layers measured: values that stay ' +
    'inside a block of several layers (residual branches) are never handed out, which no pair ' +
    'shows. Per version and core count, the median over the coarse blocks of the factor each ' +
    'needs on its junction savings prices these residual savings in the run cost.',
  apply: (a: Assembly): Assembly => ({
    ...a,
    runCostScale: savingScale(
      a.raw.layers,
      a.raw.tensors,
      a.fitted,
      a.coarse,
      a.raw.settings.coreCounts.length,
    ),
  }),
};
