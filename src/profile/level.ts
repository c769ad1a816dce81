/** How far above a profile's top level a measured slowdown may place the level, as a multiple of it. */
const MAX_LEVEL_OVER_TOP = 2;

/**
 * The level at which a slowdown curve reaches `slowdown`: the run-time inverse of a profile's
 * slowdown curves. The interference monitor feeds it a block's measured latency over its
 * quiet prediction and gets a level in the profile's unit (probe slowdown - 1).
 *
 * `curve[k]` is the slowdown at `levels[k]` (ascending, from 0), linear in between. Edges:
 * at or below `curve[0]` (a block that ran as fast as alone, or faster: noise) the level is 0,
 * and so it is for a profile measured at one level only; above the top it extrapolates the
 * last segment, up to twice the top level; where the last segment is flat the curve cannot say
 * how far above the top the level is, and the answer is the top level, the most the profile
 * measured.
 *
 * The bound keeps a nearly flat segment from turning noise into any level at all: a curve that
 * rises 1e-12 over its last step puts a block 30 % slower than predicted at a level billions of
 * times the top, and every prediction read at that level is then as far off.
 */

export function levelAtSlowdown(
  curve: readonly number[],
  levels: readonly number[],
  slowdown: number,
): number {
  if (!(slowdown > curve[0]) || levels.length < 2) return 0;
  let k = 1;
  while (k < levels.length - 1 && !(slowdown <= curve[k])) k++;
  const rise = curve[k] - curve[k - 1];
  if (rise <= 0) return levels[k];
  const level = levels[k - 1] + ((slowdown - curve[k - 1]) / rise) * (levels[k] - levels[k - 1]);
  return Math.min(level, MAX_LEVEL_OVER_TOP * levels[levels.length - 1]);
}
