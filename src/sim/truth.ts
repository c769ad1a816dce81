/**
 * The simulated machine's own model of itself: the truth that policies, reading only profiles,
 * predict. Two settings, reported side by side (docs/evaluation.md):
 *
 * - `profile`: the machine is its profiles (solo latency as profiled, slowdown along the
 *   profile's curve at the co-runners' summed pressure; `engine.ts`). Predictions are exact
 *   up to run-to-run noise.
 * - `measured-error`: a `HiddenMachine` drawn once per run seed around the profiles, with
 *   latency errors of the size the compiler measures on held-out blocks, and its own memory
 *   system (`memory.ts`: bandwidth that saturates, L3 shared per core complex).
 *
 * **Latency errors.** The compiler checks its profiles on held-out blocks of 2 to 8 layers
 * (`compile/quality.ts`) and, pooled over the light mix's compiles, misses their latency alone
 * by 5.9 % (median) / 16.6 % (p90) (docs/compiler.md, "Which stages stay"). A block's
 * latency sums its layers', so independent per-layer errors average out over a block, and a
 * query of 50 layers would see almost none: the held-out error cannot be all per layer. It
 * has a shared part too: the machine's state during the check differed from its state while
 * the profile was measured (`QualityReport.layersDuringCheck`), per core count, and how
 * layers compose into a block differs per version (the stages that correct it only partly do).
 * No measurement splits the two, so a typical held-out block (effective length 3 layers,
 * weighting layers by latency) gets half its log-variance from each: a shared lognormal
 * factor per (model, version, core count) and one per (layer, version, core count). Drawn at
 * the profile's measured core counts (the compiler times each in runs of its own), and
 * between them interpolated in 1/cores (as `soloAt` does) with weights that keep the variance.
 * `truth.test.ts` checks that blocks drawn as the compiler draws them miss by about the
 * measured median and p90. The error under interference is not drawn: it comes from the
 * memory system, whose law differs from the profiles'.
 *
 * **Memory.** What the memory system needs of a block comes from its profile:
 * - demand: its pressure per core (`blockPressure`, latency-weighted) x cores x
 *   `DEMAND_GBPS_PER_LEVEL`;
 * - memory-bound share: the profile's interference level is defined by a streaming probe
 *   (all memory) that level L slows 1 + L times, so a block slowed 1 + s at the top level L
 *   waits on memory s / L of its time (capped at `MAX_MEMORY_SHARE`);
 * - working set: each layer moves its demand on one core x its work (one core's time) in
 *   bytes, and the block holds its layers' bytes one layer at a time (work-weighted mean).
 */
import { blockPressure, type ProfilePredictor } from '../profile/index.js';
import { VeltairError } from '../errors/index.js';
import { blockShape, type BlockStart } from '../engine/index.js';
import {
  footprintSlowdowns,
  memoryFootprint,
  THREADRIPPER_3990X_MEMORY,
  type MemoryFootprint,
  type MemoryLoad,
  type MemorySystem,
} from './memory.js';
import { Rng, streamSeed } from './rng.js';

/** Which machine the simulator runs (see the module comment). */
export type TruthSetting = 'profile' | 'measured-error';
export const TRUTH_SETTINGS: readonly TruthSetting[] = ['profile', 'measured-error'];

/** Log-space deviations of the drawn latency errors. */
export interface LatencyErrorModel {
  /** One factor per (model, version, core count). */
  sharedSigma: number;
  /** One factor per (layer, version, core count). */
  layerSigma: number;
}

/**
 * Held-out block error alone of 5.9 % median / 16.6 % p90 is that of a lognormal of log-space
 * deviation 0.0875 (from the median: 0.674 sigma) to 0.10 (from the p90: 1.645 sigma); 0.094
 * between. Half its variance shared, half per layer over an effective 3 layers:
 * 0.094 / sqrt(2) and 0.094 x sqrt(3 / 2). Blocks of 2-8 layers drawn so miss by 6.3 % median
 * / 15.3 % p90 (20 seeds, the 3990X source).
 */
export const MEASURED_LATENCY_ERROR: Readonly<LatencyErrorModel> = Object.freeze({
  sharedSigma: 0.094 / Math.SQRT2,
  layerSigma: 0.094 * Math.sqrt(3 / 2),
});

/**
 * DRAM traffic, GB/s, of work exerting one unit of profile pressure (level 1: the whole
 * machine streaming as hard as the median layer's `all` version). Calibrated, not measured:
 * four GoogLeNets on 16 cores each then slow about 1.8x (the VELTAIR study's figure, which
 * the default profiles are calibrated to as well; `truth.test.ts`): the whole machine asks
 * 2.4x what the 3990X's DRAM sustains.
 */
export const DEMAND_GBPS_PER_LEVEL = 180;
/** No block waits on memory all the time: some work hits in cache under any load. */
export const MAX_MEMORY_SHARE = 0.95;
/** For profiles measured at no interference level: nothing says how memory-bound a block is. */
export const DEFAULT_MEMORY_SHARE = 0.5;

const BYTES_PER_GB = 1e9;
const SECONDS_PER_US = 1e-6;

/** A block on the hidden machine: its true solo latency and, while it runs, its slowdown. */
export interface HiddenBlock extends MemoryLoad {
  /** True solo latency (before run-to-run noise), us. */
  readonly soloUs: number;
  /** Slowdown by the blocks running with it now (>= 1), set by `HiddenMachine.settle`. */
  slowdown: number;
}

/** The machine `setting` names for a run seeded `seed`; undefined for `profile` (the profiles are the truth). */
export function hiddenMachine(
  setting: TruthSetting,
  predictors: ReadonlyMap<string, ProfilePredictor>,
  seed: number,
): HiddenMachine | undefined {
  return setting === 'profile' ? undefined : new HiddenMachine(predictors, seed);
}

/**
 * A machine drawn around the profiles: the same seed draws the same machine. It knows the
 * blocks running on it (`admit`, `release`) and how they slow each other (`settle`).
 */
export class HiddenMachine {
  /** The blocks running now, with where their bytes sit. */
  private readonly running: MemoryFootprint<HiddenBlock>[] = [];
  private slowdowns = new Float64Array(0);
  private readonly errors = new Map<string, ModelErrors>();

  constructor(
    predictors: ReadonlyMap<string, ProfilePredictor>,
    seed: number,
    errorModel: LatencyErrorModel = MEASURED_LATENCY_ERROR,
    private readonly memory: MemorySystem = THREADRIPPER_3990X_MEMORY,
  ) {
    for (const [model, pred] of predictors) this.errors.set(model, modelErrors(pred, seed, errorModel));
  }

  /** True solo latency of layers [i, j) of `model` with `version` on `cores` cores, us. */
  soloUs(model: string, i: number, j: number, version: string, cores: number): number {
    const errors = this.errorsOf(model);
    return errors.pred.blockUs(i, j, version, cores, 0) * errors.factor(i, j, version, cores);
  }

  /** Starts `start` on the machine; call `settle` once a round's blocks are in. */
  admit(start: BlockStart): HiddenBlock {
    const [i, j] = start.block;
    const cores = start.cpus.length;
    const pred = this.errorsOf(start.model).pred;
    const block: HiddenBlock = {
      soloUs: this.soloUs(start.model, i, j, start.version, cores),
      demandGBps: blockPressure(pred, i, j, start.version, { cores }) * cores * DEMAND_GBPS_PER_LEVEL,
      memoryShare: memoryShare(pred, i, j, start.version, cores),
      workingSetBytes: workingSetBytes(pred, i, j, start.version),
      cpus: start.cpus,
      slowdown: 1,
    };
    this.running.push(memoryFootprint(block, this.memory));
    return block;
  }

  private errorsOf(model: string): ModelErrors {
    const errors = this.errors.get(model);
    if (!errors) throw new VeltairError('internal', `hidden machine: no model '${model}'`);
    return errors;
  }

  release(block: HiddenBlock): void {
    const k = this.running.findIndex((f) => f.load === block);
    if (k >= 0) this.running.splice(k, 1);
  }

  /** Re-derives every running block's slowdown from the blocks running now. */
  settle(): void {
    if (this.slowdowns.length < this.running.length)
      this.slowdowns = new Float64Array(2 * this.running.length);
    footprintSlowdowns(this.running, this.memory, this.slowdowns);
    this.running.forEach((f, k) => (f.load.slowdown = this.slowdowns[k]));
  }
}

/** Share of a block's solo time spent waiting on memory, read off its profile curve's top level. */
function memoryShare(pred: ProfilePredictor, i: number, j: number, version: string, cores: number): number {
  const top = pred.levels.length - 1;
  if (top < 1 || !(pred.levels[top] > 0)) return DEFAULT_MEMORY_SHARE;
  const excess = blockShape(pred, i, j, version, cores).curve[top] - 1;
  return Math.min(MAX_MEMORY_SHARE, Math.max(0, excess / pred.levels[top]));
}

/** Per predictor and version: prefix sums of layer work and of work x bytes moved. */
const workingSets = new WeakMap<
  ProfilePredictor,
  Map<string, { work: Float64Array; workBytes: Float64Array }>
>();

/** Bytes a block holds at a time: its layers' bytes moved, weighted by their work. */
function workingSetBytes(pred: ProfilePredictor, i: number, j: number, version: string): number {
  let byVersion = workingSets.get(pred);
  if (!byVersion) workingSets.set(pred, (byVersion = new Map()));
  let sums = byVersion.get(version);
  if (!sums) {
    sums = { work: new Float64Array(pred.layerCount + 1), workBytes: new Float64Array(pred.layerCount + 1) };
    for (let l = 0; l < pred.layerCount; l++) {
      const workUs = pred.layerWorkUs[l];
      const gbps = pred.layerVersion(l, version).pressure * DEMAND_GBPS_PER_LEVEL;
      sums.work[l + 1] = sums.work[l] + workUs;
      sums.workBytes[l + 1] = sums.workBytes[l] + workUs * gbps * BYTES_PER_GB * workUs * SECONDS_PER_US;
    }
    byVersion.set(version, sums);
  }
  const work = sums.work[j] - sums.work[i];
  return work > 0 ? (sums.workBytes[j] - sums.workBytes[i]) / work : 0;
}

/** One model's drawn errors: log-errors per version, per measured core count. */
interface ModelErrors {
  pred: ProfilePredictor;
  /** Multiplier of the profile's solo latency of layers [i, j). */
  factor(i: number, j: number, version: string, cores: number): number;
}

/** Drawn errors, per predictor and seed: a peak search runs the same seed many times. */
const drawn = new WeakMap<ProfilePredictor, Map<string, ModelErrors>>();

function modelErrors(pred: ProfilePredictor, seed: number, model: LatencyErrorModel): ModelErrors {
  const key = `${seed}/${model.sharedSigma}/${model.layerSigma}`;
  let bySeed = drawn.get(pred);
  if (!bySeed) drawn.set(pred, (bySeed = new Map()));
  let errors = bySeed.get(key);
  if (!errors) bySeed.set(key, (errors = drawErrors(pred, seed, model)));
  return errors;
}

/**
 * Draws in a fixed order from the model's own stream (`truth:<model>`): per version, per
 * measured core count, the shared log-error and then one per layer.
 */
function drawErrors(pred: ProfilePredictor, seed: number, model: LatencyErrorModel): ModelErrors {
  const rng = new Rng(streamSeed(seed, `truth:${pred.model}`));
  const columns = pred.data.coreCounts;
  const logErrors = pred.versions.map(() =>
    columns.map(() => {
      const shared = model.sharedSigma * rng.normal();
      return Float64Array.from({ length: pred.layerCount }, () => shared + model.layerSigma * rng.normal());
    }),
  );
  const prefixes = new Map<number, { weight: Float64Array; weighted: Float64Array }>();
  const prefixAt = (v: number, cores: number) => {
    const key = v * (pred.maxCores + 1) + cores;
    let p = prefixes.get(key);
    if (!p) prefixes.set(key, (p = errorPrefix(pred, v, cores, logErrors[v])));
    return p;
  };
  return {
    pred,
    factor(i, j, version, cores) {
      const c = Math.max(1, Math.min(pred.maxCores, Math.round(cores)));
      const p = prefixAt(pred.versions.indexOf(version), c);
      const weight = p.weight[j] - p.weight[i];
      return weight > 0 ? (p.weighted[j] - p.weighted[i]) / weight : 1;
    },
  };
}

/**
 * Prefix sums over layers of their profile latency on `cores` (the weight) and of that latency
 * times its drawn error, interpolated between the measured core counts.
 */
function errorPrefix(
  pred: ProfilePredictor,
  v: number,
  cores: number,
  byColumn: readonly Float64Array[],
): { weight: Float64Array; weighted: Float64Array } {
  const { lo, hi, a, b } = columnWeights(pred.data.coreCounts, cores);
  const weight = new Float64Array(pred.layerCount + 1);
  const weighted = new Float64Array(pred.layerCount + 1);
  for (let l = 0; l < pred.layerCount; l++) {
    const us = pred.layerUs(l, pred.versions[v], cores, 0);
    weight[l + 1] = weight[l] + us;
    weighted[l + 1] = weighted[l] + us * Math.exp(a * byColumn[lo][l] + b * byColumn[hi][l]);
  }
  return { weight, weighted };
}

/**
 * The measured core counts around `cores` and their weights: linear in 1/cores, scaled so that
 * a mix of two independent draws keeps one draw's variance.
 */
export function columnWeights(
  coreCounts: readonly number[],
  cores: number,
): { lo: number; hi: number; a: number; b: number } {
  const n = coreCounts.length;
  if (cores <= coreCounts[0]) return { lo: 0, hi: 0, a: 1, b: 0 };
  if (cores >= coreCounts[n - 1]) return { lo: n - 1, hi: n - 1, a: 1, b: 0 };
  let k = 0;
  while (coreCounts[k + 1] < cores) k++;
  const t = (1 / cores - 1 / coreCounts[k]) / (1 / coreCounts[k + 1] - 1 / coreCounts[k]);
  const norm = Math.hypot(1 - t, t);
  return { lo: k, hi: k + 1, a: (1 - t) / norm, b: t / norm };
}
