import { VeltairError } from '../errors/index.js';
import {
  measuredVersions,
  type LayerProfile,
  type ModelProfileData,
  type Prediction,
  type TensorEdge,
  type VersionProfile,
} from './format.js';

/**
 * Answers "latency of layers [i, j) on c cores at interference level x" from a profile in
 * O(versions) work: per (version, cores, level) prefix sums are built once.
 *
 * Semantics the scheduler relies on:
 * - Core counts between measured columns are interpolated linearly in 1/cores; below the
 *   smallest measured count latency grows as measured x c0 / c (linear scaling, which is
 *   pessimistic for poorly scaling layers); above the largest it stays flat.
 * - Interference between measured levels is interpolated linearly; above the highest level
 *   the slowdown is extrapolated along the last segment.
 * - A version the compiler pruned on a layer as dominated counts there with its measured
 *   numbers (`LayerProfile.dominated`): a block runs one version on all its layers. Every
 *   version a profile names has numbers on every layer; a profile without them is refused.
 */
export class ProfilePredictor {
  readonly model: string;
  readonly layerCount: number;
  readonly maxCores: number;
  readonly versions: readonly string[];
  readonly levels: readonly number[];
  /** prefix[v][c][l][i]: sum over layers < i of latency (us) of version v on c cores at level index l. */
  private readonly prefix: Float64Array[][][];
  /** Coarse blocks stored whole, by blockKey(i, j), then version. */
  private readonly blockOverrides = new Map<number, Map<string, VersionProfile>>();
  private readonly skipMemo = new Map<number, number>();
  /**
   * The last block's skip bytes and the last level's segment: planners ask for one block on
   * every core count and version in a row, at one level. Caches of pure functions.
   */
  private lastSkip = { key: -1, bytes: 0 };
  private segment: LevelSegment = { level: NaN, lo: 0, hi: 0, t: 0 };
  /** `predict` at level 0, by block and clamped cores. */
  private readonly quietMemo = new Map<number, Prediction>();
  /** endUs[v][c][k]: what a block ending with layer k pays at its end (boundaryUs), on c cores. */
  private readonly endUs: Float64Array[][];
  /** usPerSkipMiB[v][c]: price of a MiB of residual values a block keeps inside (runCost). */
  private readonly usPerSkipMiB: Float64Array[];
  /** keptCount[v][i]: layers < i that kept version v (prefix counts). */
  private readonly keptCount: Int32Array[];
  /** Solo latency at 1 core, fastest version, per layer: the "work" a query's budget is split by. */
  readonly layerWorkUs: readonly number[];

  constructor(readonly data: ModelProfileData) {
    this.model = data.model;
    this.layerCount = data.layers.length;
    this.maxCores = Math.max(...data.coreCounts, data.machine.usableCores);
    this.levels = data.levels;
    const ids = new Set<string>();
    for (const l of data.layers) for (const v of measuredVersions(l)) ids.add(v.version);
    this.versions = [...ids];
    data.layers.forEach((l, i) => {
      const missing = this.versions.find((v) => measuredVersion(l, v) === undefined);
      if (missing === undefined) return;
      throw new VeltairError(
        'profile_unavailable',
        `${data.model}: layer ${i} (${l.name}) has no numbers for version '${missing}', which other layers have: a profile keeps every version's numbers on every layer, pruned ones in 'dominated'`,
      );
    });
    this.prefix = this.versions.map((v) => this.buildPrefix(v));
    this.endUs = this.versions.map((v) => this.buildEndCosts(v));
    this.usPerSkipMiB = this.versions.map((v) => this.buildSkipPrice(v));
    this.keptCount = this.versions.map((v) =>
      prefixCount(data.layers, (l) => l.versions.some((x) => x.version === v)),
    );
    this.layerWorkUs = data.layers.map((_, i) =>
      this.minOver(this.versions, (v) => this.layerUs(i, v, 1, 0)),
    );
    for (const b of data.blocks ?? []) {
      this.blockOverrides.set(
        this.blockKey(b.range[0], b.range[1]),
        new Map(b.versions.map((v) => [v.version, v])),
      );
    }
  }

  private blockKey(i: number, j: number): number {
    return i * (this.layerCount + 1) + j;
  }

  private minOver<T>(items: readonly T[], f: (t: T) => number): number {
    let best = Infinity;
    for (const t of items) best = Math.min(best, f(t));
    return best;
  }

  private buildPrefix(version: string): Float64Array[][] {
    const byCores: Float64Array[][] = [];
    for (let c = 0; c <= this.maxCores; c++) {
      byCores.push(
        this.levels.map((_, li) => {
          const p = new Float64Array(this.layerCount + 1);
          if (c === 0) return p;
          for (let i = 0; i < this.layerCount; i++) {
            const vp = this.layerVersion(i, version);
            p[i + 1] = p[i] + soloAt(vp, this.data.coreCounts, c) * vp.slowdown[li];
          }
          return p;
        }),
      );
    }
    return byCores;
  }

  private buildEndCosts(version: string): Float64Array[] {
    return Array.from({ length: this.maxCores + 1 }, (_, c) =>
      Float64Array.from(this.data.layers, (_, k) => {
        const vp = this.layerVersion(k, version);
        if (!vp.boundaryUs || c === 0) return 0;
        return soloAt({ ...vp, soloUs: vp.boundaryUs }, this.data.coreCounts, c);
      }),
    );
  }

  private buildSkipPrice(version: string): Float64Array {
    const cost = this.data.runCost?.[version];
    return Float64Array.from({ length: this.maxCores + 1 }, (_, c) =>
      cost && c > 0
        ? soloAt({ version, soloUs: cost.usPerMiB, slowdown: [1], pressure: 0 }, this.data.coreCounts, c)
        : 0,
    );
  }

  /** A layer's numbers for `version`: kept, or pruned as dominated. */
  layerVersion(layer: number, version: string): VersionProfile {
    const found = measuredVersion(this.data.layers[layer], version);
    if (!found) throw new VeltairError('internal', `${this.model}: no version ${version}`);
    return found;
  }

  private clampCores(cores: number): number {
    return Math.max(1, Math.min(this.maxCores, Math.round(cores)));
  }

  /** Latency of one layer, one version. */
  layerUs(layer: number, version: string, cores: number, level: number): number {
    const vp = this.layerVersion(layer, version);
    return (
      soloAt(vp, this.data.coreCounts, this.clampCores(cores)) * slowdownAt(vp.slowdown, this.levels, level)
    );
  }

  /**
   * Latency of layers [i, j) with one version on `cores` cores at interference `level`: the
   * layers' in-block latencies scaled by their slowdown, plus what the block pays at its end
   * (the last layer's `boundaryUs`) less what it saves on residual values that stay inside,
   * scaled by the layers' mean slowdown.
   */
  blockUs(i: number, j: number, version: string, cores: number, level: number): number {
    const vi = this.versions.indexOf(version);
    if (vi < 0) throw new VeltairError('internal', `${this.model}: no version ${version}`);
    return this.blockUsOf(i, j, vi, this.clampCores(cores), level);
  }

  /** blockUs by version index and clamped cores: the hot path, allocation-free while the level repeats. */
  private blockUsOf(i: number, j: number, vi: number, c: number, level: number): number {
    if (level !== this.segment.level) this.segment = levelSegment(this.levels, level);
    return this.blockUsAt(i, j, vi, c, this.segment, this.usPerSkipMiB[vi][c] > 0 ? this.skipBytes(i, j) : 0);
  }

  /** blockUsOf at a level's segment, given the block's skip bytes (unused where a version saves nothing). */
  private blockUsAt(
    i: number,
    j: number,
    vi: number,
    c: number,
    segment: LevelSegment,
    skipBytes: number,
  ): number {
    if (this.blockOverrides.size > 0) {
      const override = this.blockOverrides.get(this.blockKey(i, j))?.get(this.versions[vi]);
      if (override)
        return soloAt(override, this.data.coreCounts, c) * interpolate(override.slowdown, segment);
    }
    const perLevel = this.prefix[vi][c];
    const { lo, hi, t } = segment;
    const sumLo = perLevel[lo][j] - perLevel[lo][i];
    const sumHi = perLevel[hi][j] - perLevel[hi][i];
    const layersUs = sumLo + (sumHi - sumLo) * t;
    if (j <= i) return layersUs;
    // Run costs slow as the block's layers do, on average.
    const quietUs = perLevel[0][j] - perLevel[0][i];
    const saved = this.usPerSkipMiB[vi][c] > 0 ? (this.usPerSkipMiB[vi][c] * skipBytes) / MIB : 0;
    const endUs = this.endUs[vi][c][j - 1] - saved;
    return layersUs + Math.max(0, endUs) * (quietUs > 0 ? layersUs / quietUs : 1);
  }

  /** What a block ending with `layer` pays at its end (VersionProfile.boundaryUs). */
  boundaryUs(layer: number, version: string, cores: number): number {
    const vi = this.versions.indexOf(version);
    return vi < 0 ? 0 : this.endUs[vi][this.clampCores(cores)][layer];
  }

  /**
   * What a block saves on values that skip layers (residuals) and stay inside it: every layer's
   * in-block latency still includes their cost, since no pair of layers holds both ends.
   */
  skipSavedUs(i: number, j: number, version: string, cores: number): number {
    const vi = this.versions.indexOf(version);
    if (vi < 0) return 0;
    return (this.usPerSkipMiB[vi][this.clampCores(cores)] * this.skipBytes(i, j)) / MIB;
  }

  /** Bytes of skipping values whose moves a block [i, j) saves (memoized: asked often). */
  skipBytes(i: number, j: number): number {
    const key = this.blockKey(i, j);
    if (key === this.lastSkip.key) return this.lastSkip.bytes;
    let bytes = this.skipMemo.get(key);
    if (bytes === undefined) this.skipMemo.set(key, (bytes = skipSavedBytes(this.data.tensors ?? [], i, j)));
    this.lastSkip = { key, bytes };
    return bytes;
  }

  /**
   * The best version for [i, j) on `cores` at `level`, and its latency. A block runs one
   * version on all its layers. Versions compete that some layer of the block kept: one pruned
   * everywhere (say spinning that is nowhere clearly faster) is not worth choosing.
   */
  predict(i: number, j: number, cores: number, level: number): Prediction {
    if (level !== 0 || !this.isBlock(i, j)) return this.bestOf(i, j, cores, level);
    // Without interference the answer depends on the block and cores only, and baselines ask
    // it for the same blocks at every decision: keep it (a copy goes out, callers may keep it).
    const key = this.blockKey(i, j) * (this.maxCores + 1) + this.clampCores(cores);
    let quiet = this.quietMemo.get(key);
    if (!quiet) this.quietMemo.set(key, (quiet = this.bestOf(i, j, cores, 0)));
    return { latencyUs: quiet.latencyUs, version: quiet.version };
  }

  private isBlock(i: number, j: number): boolean {
    return Number.isInteger(i) && Number.isInteger(j) && i >= 0 && i <= j && j <= this.layerCount;
  }

  private bestOf(i: number, j: number, cores: number, level: number): Prediction {
    const hi = Math.max(0, Math.min(j, this.layerCount));
    const lo = Math.max(0, Math.min(i, hi));
    const c = this.clampCores(cores);
    let bestUs = Infinity;
    let bestVersion: string | undefined;
    for (let v = 0; v < this.versions.length; v++) {
      if (!this.competesAt(lo, hi, v)) continue;
      const us = this.blockUsOf(i, j, v, c, level);
      if (bestVersion === undefined || us < bestUs) {
        bestUs = us;
        bestVersion = this.versions[v];
      }
    }
    return { latencyUs: bestUs, version: bestVersion ?? this.versions[0] };
  }

  /**
   * Latency of block [i, j) at `level` on each core count 1..upTo, as out[c] (out[0] unused),
   * with the version fastest at that level (`pick: 'at-level'`, what `predict` gives) or the
   * one fastest alone (`'alone'`). The same numbers as asking core count by core count, in one
   * pass: planners scan every core count for the fastest.
   */
  latencyAcrossCores(
    i: number,
    j: number,
    level: number,
    pick: 'at-level' | 'alone',
    upTo: number,
  ): Float64Array {
    const n = Math.max(0, Math.min(Math.floor(upTo), this.maxCores));
    const out = new Float64Array(n + 1);
    if (!this.isBlock(i, j)) {
      for (let c = 1; c <= n; c++) {
        out[c] =
          pick === 'at-level'
            ? this.predict(i, j, c, level).latencyUs
            : this.blockUs(i, j, this.predict(i, j, c, 0).version, c, level);
      }
      return out;
    }
    const atLevel = levelSegment(this.levels, level);
    const alone = levelSegment(this.levels, 0);
    const skip = this.skipBytes(i, j);
    // Some version competes on every block: each of its layers kept one.
    for (let c = 1; c <= n; c++) {
      let [bestUs, pickedUs] = [Infinity, Infinity];
      for (let v = 0; v < this.versions.length; v++) {
        if (!this.competesAt(i, j, v)) continue;
        const us = this.blockUsAt(i, j, v, c, atLevel, skip);
        const rankUs = pick === 'at-level' ? us : this.blockUsAt(i, j, v, c, alone, skip);
        if (pickedUs === Infinity || rankUs < bestUs) [bestUs, pickedUs] = [rankUs, us];
      }
      out[c] = pickedUs;
    }
    return out;
  }

  /** Whether `version` is one `predict` would consider for layers [i, j). */
  competes(i: number, j: number, version: string): boolean {
    const hi = Math.max(0, Math.min(j, this.layerCount));
    const lo = Math.max(0, Math.min(i, hi));
    const v = this.versions.indexOf(version);
    return v >= 0 && this.competesAt(lo, hi, v);
  }

  private competesAt(lo: number, hi: number, v: number): boolean {
    return hi === lo || this.keptCount[v][hi] > this.keptCount[v][lo];
  }

  /** Fewest cores (up to `maxCores`) whose best-version latency fits `budgetUs`; undefined if none. */
  fewestCoresWithin(
    i: number,
    j: number,
    level: number,
    budgetUs: number,
    maxCores = this.maxCores,
  ): number | undefined {
    for (let c = 1; c <= Math.min(maxCores, this.maxCores); c++) {
      if (this.predict(i, j, c, level).latencyUs <= budgetUs) return c;
    }
    return undefined;
  }
}

const MIB = 1024 * 1024;

/** prefix[i]: layers < i for which `has` holds. */
function prefixCount(layers: readonly LayerProfile[], has: (layer: LayerProfile) => boolean): Int32Array {
  const count = new Int32Array(layers.length + 1);
  layers.forEach((l, i) => {
    count[i + 1] = count[i] + (has(l) ? 1 : 0);
  });
  return count;
}

/**
 * A layer's numbers for `version`: kept, or measured and pruned as dominated (the order of
 * `measuredVersions`, without building its array: the simulator asks this per layer per event).
 */
function measuredVersion(layer: LayerProfile, version: string): VersionProfile | undefined {
  const isIt = (v: VersionProfile) => v.version === version;
  return layer.versions.find(isIt) ?? layer.dominated?.find(isIt);
}

/**
 * Lowest solo latency of the model from layer `fromLayer` (default: the whole model) to its end
 * over 1..totalCores cores, best version, in ms.
 */
export function isolatedLatencyMs(pred: ProfilePredictor, totalCores: number, fromLayer = 0): number {
  let best = Infinity;
  for (let c = 1; c <= Math.min(totalCores, pred.maxCores); c++)
    best = Math.min(best, pred.predict(fromLayer, pred.layerCount, c, 0).latencyUs / 1000);
  return best;
}

/**
 * Bytes of the values block [i, j) is fed (produced before i, read inside) and hands on
 * (produced inside, read at or after j, or a graph output).
 */
export function blockIoBytes(tensors: readonly TensorEdge[], i: number, j: number): number {
  let bytes = 0;
  for (const t of tensors) {
    if (t.producer < i) {
      if (t.consumers.some((c) => c >= i && c < j)) bytes += t.bytes;
    } else if (t.producer < j && t.consumers.some((c) => c >= j)) {
      bytes += t.bytes;
    }
  }
  return bytes;
}

/**
 * Moves of skipping values a block [i, j) saves, in bytes: a value produced inside and read
 * two or more layers later inside is neither handed on (if nothing after j reads it) nor fed
 * to those readers. Pairs of layers never see these savings, so boundary costs miss them.
 */
export function skipSavedBytes(tensors: readonly TensorEdge[], i: number, j: number): number {
  let bytes = 0;
  for (const t of tensors) {
    if (t.producer < i || t.producer >= j) continue;
    const far = t.consumers.filter((c) => c >= t.producer + 2 && c < j).length;
    if (far === 0) continue;
    const staysInside = t.consumers.every((c) => c < j);
    bytes += t.bytes * (far + (staysInside ? 1 : 0));
  }
  return bytes;
}

/** Solo latency at `cores` from measured columns (see the class comment for the rule). */
export function soloAt(vp: VersionProfile, coreCounts: readonly number[], cores: number): number {
  const n = coreCounts.length;
  if (cores <= coreCounts[0]) return (vp.soloUs[0] * coreCounts[0]) / cores;
  if (cores >= coreCounts[n - 1]) return vp.soloUs[n - 1];
  let k = 0;
  while (coreCounts[k + 1] < cores) k++;
  const [c0, c1] = [coreCounts[k], coreCounts[k + 1]];
  const t = (1 / cores - 1 / c0) / (1 / c1 - 1 / c0);
  return vp.soloUs[k] + (vp.soloUs[k + 1] - vp.soloUs[k]) * t;
}

export function slowdownAt(slowdown: readonly number[], levels: readonly number[], level: number): number {
  return interpolate(slowdown, levelSegment(levels, level));
}

function interpolate(values: readonly number[], { lo, hi, t }: LevelSegment): number {
  return values[lo] + (values[hi] - values[lo]) * t;
}

/** Where `level` falls among the profile's levels: interpolate between indices lo and hi at t. */
interface LevelSegment {
  readonly level: number;
  readonly lo: number;
  readonly hi: number;
  readonly t: number;
}

function levelSegment(levels: readonly number[], level: number): LevelSegment {
  const k = segmentOf(levels, level);
  return { level, lo: Math.max(0, k), hi: k < 0 ? 0 : k + 1, t: k < 0 ? 0 : segmentT(levels, k, level) };
}

/**
 * The segment of the levels that `level` falls in: k for [levels[k], levels[k + 1]] (the last
 * one also above the top), -1 at or below the first level or when there is one level only.
 * An index rather than a bracket object: callers run per block per event.
 */
function segmentOf(levels: readonly number[], level: number): number {
  const n = levels.length;
  if (n === 1 || level <= levels[0]) return -1;
  let k = 0;
  while (k < n - 2 && levels[k + 1] < level) k++;
  return k;
}

/** Position of `level` in segment k (may exceed 1 above the top). */
function segmentT(levels: readonly number[], k: number, level: number): number {
  return (level - levels[k]) / (levels[k + 1] - levels[k]);
}
