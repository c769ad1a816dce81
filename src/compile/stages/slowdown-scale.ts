import { ProfilePredictor, median } from '../../profile/index.js';
import { renderProfile, type Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/** Only excess slowdowns larger than this are compared (smaller ratios are noise over noise). */
const MIN_EXCESS = 0.01;

/** Each layer's excess slowdown (s - 1) scaled by the median factor h the coarse blocks need. */
export const slowdownScale: CorrectionStage = {
  name: 'slowdown-scale',
  corrects:
    "A layer's slowdown is measured on a one-layer block, whose run is dominated, for small layers, " +
    'by the end cost (allocating and copying outputs for JavaScript), which is more memory-bound ' +
    "than the layer's kernels: summed, layers' slowdowns overstate how much multi-layer blocks slow " +
    '(ResNet-50 [1, 7) predicted 1.18x at level 0.06, measured 0.97x). The coarse blocks, measured ' +
    'whole under the generator, give per version and level the factor h within [0, 1] on the ' +
    'excess slowdown that makes their prediction right, the median over blocks.',
  apply: (a: Assembly): Assembly => ({ ...a, slowdownScale: slowdownFactors(a) }),
};

function slowdownFactors(a: Assembly): Record<string, number[]> {
  const draft = renderProfile(a);
  if (draft.levels.length < 2) return {};
  const predictor = new ProfilePredictor(draft);
  const sens = a.raw.settings.sensitivityCores;
  const factors: Record<string, number[]> = {};
  for (const version of predictor.versions) {
    factors[version] = draft.levels.map((level, l) => {
      if (l === 0) return 1;
      const ratios: number[] = [];
      for (const { range, versions } of a.coarse) {
        const measured = versions.find((v) => v.version === version)?.slowdown[l];
        if (measured === undefined || range[1] > draft.layers.length) continue;
        const quiet = predictor.blockUs(range[0], range[1], version, sens, 0);
        const excess = predictor.blockUs(range[0], range[1], version, sens, level) / quiet - 1;
        if (excess > MIN_EXCESS) ratios.push((measured - 1) / excess);
      }
      return ratios.length > 0 ? Math.min(1, Math.max(0, median(ratios))) : 1;
    });
  }
  return factors;
}
