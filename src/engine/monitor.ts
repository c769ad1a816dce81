/**
 * The interference monitor: from how much slower than predicted recent blocks ran, the level of
 * interference (in the profiles' unit) that explains it. The simulator and the live runtime
 * feed it the same way: the block's measured run time against its profile prediction.
 */
import { BlockMemo, levelAtSlowdown, slowdownAt, type ProfilePredictor } from '../profile/index.js';

/** Estimate: mean over blocks completed in the last this many ms... */
const MONITOR_WINDOW_MS = 100;
/** ...and at most this many of them. */
const MONITOR_SAMPLES = 16;

export class InterferenceMonitor {
  private readonly samples: { atMs: number; level: number }[] = [];

  /** Records a block that ran `measuredUs` where the profile predicted `shape` alone. */
  observe(atMs: number, shape: BlockShape, levels: readonly number[], measuredUs: number): void {
    const level = levelAtSlowdown(shape.curve, levels, measuredUs / shape.soloUs);
    this.samples.push({ atMs, level });
    if (this.samples.length > MONITOR_SAMPLES) this.samples.shift();
  }

  /** The current estimate: the mean level of the recent samples, 0 when there are none. */
  estimate(nowMs: number): number {
    let sum = 0;
    let n = 0;
    for (const s of this.samples) {
      if (s.atMs < nowMs - MONITOR_WINDOW_MS) continue;
      sum += s.level;
      n++;
    }
    return n === 0 ? 0 : sum / n;
  }
}

/** What the profile predicts for one block on some cores in some version. */
export interface BlockShape {
  /** Latency alone, in us. */
  soloUs: number;
  /** Slowdown at each of the profile's levels. */
  curve: number[];
}

/** Shared by engines: a cache of a pure function. */
const blockShapes = new BlockMemo<BlockShape>();

export function blockShape(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
): BlockShape {
  return blockShapes.get(pred, i, j, version, cores, computeShape);
}

function computeShape(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
): BlockShape {
  const soloUs = pred.blockUs(i, j, version, cores, 0);
  return { soloUs, curve: pred.levels.map((l) => pred.blockUs(i, j, version, cores, l) / soloUs) };
}

/** Predicted latency of a block with its shape at interference `level`, plus a launch overhead. */
export function expectedUs(
  shape: BlockShape,
  levels: readonly number[],
  level: number,
  overheadUs: number,
): number {
  return shape.soloUs * slowdownAt(shape.curve, levels, level) + overheadUs;
}
