import type { ProfilePredictor } from './predictor.js';

/**
 * A cache, per predictor, of a pure function of a block [i, j), its version and its cores:
 * the engines ask such values for every block they start, and recomputing them from the
 * profile would cost a pass over the block's layers each time. Keys are numbers, so that a
 * lookup allocates nothing.
 */
export class BlockMemo<T> {
  private readonly byPredictor = new WeakMap<ProfilePredictor, Map<number, T>>();

  /**
   * The value for the block, computed by `compute` on the first ask. `compute` gets the block
   * back as arguments, so callers pass one function rather than a closure made per ask.
   */
  get(
    pred: ProfilePredictor,
    i: number,
    j: number,
    version: string,
    cores: number,
    compute: (pred: ProfilePredictor, i: number, j: number, version: string, cores: number) => T,
  ): T {
    let memo = this.byPredictor.get(pred);
    if (!memo) this.byPredictor.set(pred, (memo = new Map()));
    const n = pred.layerCount + 1;
    const key =
      ((i * n + j) * pred.versions.length + pred.versions.indexOf(version)) * (pred.maxCores + 1) + cores;
    let value = memo.get(key);
    if (value === undefined) {
      value = compute(pred, i, j, version, cores);
      memo.set(key, value);
    }
    return value;
  }
}
