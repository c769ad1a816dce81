import { ProfilePredictor, median } from '../../profile/index.js';
import { renderProfile, round3, type Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/**
 * Upper bound of the context factor: beyond it a coarse block is more likely a noisy run than
 * layers slowed by their neighbours' data (BERT-base's blocks need 1.13-1.18).
 */
const MAX_CONTEXT = 1.3;

/** In-block latency multiplied by the median factor m the coarse blocks need, within [1, MAX_CONTEXT]. */
export const blockContext: CorrectionStage = {
  name: 'block-context',
  corrects:
    'A layer measured alone is primed by a run of itself, so its weights are in cache; inside a ' +
    "block the other layers' weights and values have taken the cache (BERT-base's coarse blocks, " +
    '9-28 MiB of weights, ran 1.10-1.21x the sum of their layers on 1 core). Per version and core ' +
    "count, the factor on its layers' in-block latency that makes each coarse block's prediction " +
    "right, the median over blocks; it only adds (junction savings are the saving stages').",
  apply: (a: Assembly): Assembly => ({ ...a, context: contextFactors(a) }),
};

function contextFactors(a: Assembly): Record<string, number[]> {
  const draft = renderProfile(a);
  const predictor = new ProfilePredictor(draft);
  const context: Record<string, number[]> = {};
  for (const version of predictor.versions) {
    context[version] = draft.coreCounts.map((cores, c) => {
      const ratios: number[] = [];
      for (const { range, versions } of a.coarse) {
        const [i, j] = range;
        const measured = versions.find((v) => v.version === version)?.soloUs[c];
        if (measured === undefined || j > draft.layers.length) continue;
        let inBlockUs = 0;
        for (let k = i; k < j; k++) inBlockUs += predictor.layerUs(k, version, cores, 0);
        const endUs = predictor.blockUs(i, j, version, cores, 0) - inBlockUs;
        if (inBlockUs > 0) ratios.push((measured - endUs) / inBlockUs);
      }
      return ratios.length > 0 ? round3(Math.min(MAX_CONTEXT, Math.max(1, median(ratios)))) : 1;
    });
  }
  return context;
}
