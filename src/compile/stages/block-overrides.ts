import {
  ProfilePredictor,
  blockPressure,
  type BlockProfile,
  type ModelProfileData,
} from '../../profile/index.js';
import { renderProfile, round3, type Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/** Coarse blocks still off their prediction by more than the tolerance, stored whole. */
export const blockOverrides: CorrectionStage = {
  name: 'block-overrides',
  corrects:
    'Some blocks do not add up from their layers however the layers are corrected (a fusion ORT ' +
    'makes only across layers, a working set that fits the cache only whole). A coarse block whose ' +
    'measured latency is still off the prediction by more than `blockTolerance` is stored as ' +
    'measured; under interference it slows as its layers do.',
  apply: (a: Assembly): Assembly => ({ ...a, blocks: wholeBlocks(a) }),
};

function wholeBlocks(a: Assembly): BlockProfile[] {
  const profile = renderProfile(a);
  const predictor = new ProfilePredictor(profile);
  const kept = new Set(predictor.versions);
  const blocks: BlockProfile[] = [];
  for (const { range, versions } of a.coarse) {
    const [i, j] = range;
    const mine = versions.filter((v) => kept.has(v.version));
    if (
      !mine.some((v) => isOff(profile, predictor, i, j, v.version, v.soloUs, a.raw.settings.blockTolerance))
    )
      continue;
    blocks.push({
      range: [i, j],
      versions: mine.map((v) => ({
        ...v,
        slowdown: profile.levels.map((l) =>
          round3(predictor.blockUs(i, j, v.version, 1, l) / predictor.blockUs(i, j, v.version, 1, 0)),
        ),
        pressure: round3(blockPressure(predictor, i, j, v.version, 'equal')),
        why: 'block latency is not the sum of its layers',
      })),
    });
  }
  return blocks;
}

function isOff(
  profile: ModelProfileData,
  predictor: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  measuredUs: readonly number[],
  tolerance: number,
): boolean {
  return profile.coreCounts.some((c, k) => {
    const predicted = predictor.blockUs(i, j, version, c, 0);
    return Math.abs(predicted - measuredUs[k]) / measuredUs[k] > tolerance;
  });
}
