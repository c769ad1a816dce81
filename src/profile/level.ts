import type { ProfilePredictor } from './predictor.js';

/**
 * The run-time inverse of a profile's slowdown curves: the interference level at which the
 * profile predicts `observedUs` for block [i, j) with `version` on `cores`. A monitor feeds it
 * measured block latencies and gets levels in the profile's unit (probe slowdown - 1). Below
 * the quiet prediction it answers 0; above the top level it extrapolates the last segment;
 * a block insensitive to interference (flat curve) tells nothing and answers undefined.
 */
export function levelFromSlowdown(
  predictor: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
  observedUs: number,
): number | undefined {
  const levels = predictor.levels;
  const at = levels.map((l) => predictor.blockUs(i, j, version, cores, l));
  if (observedUs <= at[0]) return 0;
  for (let k = 1; k < levels.length; k++) {
    const last = k === levels.length - 1;
    if (observedUs > at[k] && !last) continue;
    const rise = at[k] - at[k - 1];
    if (rise <= 0) continue;
    return levels[k - 1] + ((observedUs - at[k - 1]) / rise) * (levels[k] - levels[k - 1]);
  }
  return undefined;
}
