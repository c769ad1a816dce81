/**
 * Block pressure: the pressure per core a block puts on its co-runners, in the profile's
 * interference unit. A block's layers run one after another, so co-runners feel each layer's
 * pressure for as long as it runs: the block's pressure is its layers' pressures weighted by
 * how long each runs. How long is a choice each caller makes (`PressureWeights`); the
 * definition is this one.
 */
import { BlockMemo } from './memo.js';
import type { ProfilePredictor } from './predictor.js';

/**
 * How long each layer of a block counts:
 * - `work`: its work (`ProfilePredictor.layerWorkUs`: its fastest version alone on one core),
 *   the same for every version and core count, so one prefix sum per version answers any
 *   block at once: what the veltair policy prices and sums running blocks by, every decision.
 * - `{ cores }`: its latency in the block's version on `cores` cores alone: how the block's
 *   time really divides between its layers there, which the simulator's machine exerts and a
 *   segment profile stores.
 */
export type PressureWeights = 'work' | { readonly cores: number };

/** Pressure per core that `version` of layers [i, j) puts on co-runners (0 for no work). */
export function blockPressure(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  weights: PressureWeights,
): number {
  if (weights === 'work') return workWeighted(pred, i, j, version);
  return latencyWeighted(pred, i, j, version, weights.cores);
}

/** Per predictor: work prefix sums, and per version the work-weighted pressure prefix sums. */
const workPrefixes = new WeakMap<
  ProfilePredictor,
  { work: Float64Array; byVersion: Map<string, Float64Array> }
>();

function workWeighted(pred: ProfilePredictor, i: number, j: number, version: string): number {
  let prefixes = workPrefixes.get(pred);
  if (!prefixes) {
    const work = new Float64Array(pred.layerCount + 1);
    for (let l = 0; l < pred.layerCount; l++) work[l + 1] = work[l] + pred.layerWorkUs[l];
    workPrefixes.set(pred, (prefixes = { work, byVersion: new Map() }));
  }
  let weighted = prefixes.byVersion.get(version);
  if (!weighted) {
    weighted = new Float64Array(pred.layerCount + 1);
    for (let l = 0; l < pred.layerCount; l++) {
      weighted[l + 1] = weighted[l] + pred.layerWorkUs[l] * pred.layerVersion(l, version).pressure;
    }
    prefixes.byVersion.set(version, weighted);
  }
  const work = prefixes.work[j] - prefixes.work[i];
  return work > 0 ? (weighted[j] - weighted[i]) / work : 0;
}

const latencyWeightedMemo = new BlockMemo<number>();

function latencyWeighted(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
): number {
  return latencyWeightedMemo.get(pred, i, j, version, cores, computeLatencyWeighted);
}

function computeLatencyWeighted(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
): number {
  return weightedMean(pred, i, j, version, (l) => pred.layerUs(l, version, cores, 0));
}

function weightedMean(
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  weightOf: (layer: number) => number,
): number {
  let weighted = 0;
  let total = 0;
  for (let l = i; l < j; l++) {
    const w = weightOf(l);
    weighted += w * pred.layerVersion(l, version).pressure;
    total += w;
  }
  return total > 0 ? weighted / total : 0;
}
