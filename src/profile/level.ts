/**
 * The level at which a slowdown curve reaches `slowdown`: the run-time inverse of a profile's
 * slowdown curves. The interference monitor feeds it a block's measured latency over its
 * quiet prediction and gets a level in the profile's unit (probe slowdown - 1).
 *
 * `curve[k]` is the slowdown at `levels[k]` (ascending, from 0), linear in between. Edges:
 * at or below `curve[0]` (a block that ran as fast as alone, or faster: noise) the level is 0,
 * and so it is for a profile measured at one level only; above the top it extrapolates the
 * last segment; where the last segment is flat the curve cannot say how far above the top the
 * level is, and the answer is the top level, the most the profile measured.
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
  return levels[k - 1] + ((slowdown - curve[k - 1]) / rise) * (levels[k] - levels[k - 1]);
}
