import type { ModelProfileData, Prediction, VersionProfile } from './profile.js';

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
 * - A layer that has no profile for version v (the compiler pruned v there as dominated)
 *   counts with its fastest kept version.
 */
export class ProfilePredictor {
  readonly model: string;
  readonly layerCount: number;
  readonly maxCores: number;
  readonly versions: readonly string[];
  readonly levels: readonly number[];
  /** prefix[v][c][l][i]: sum over layers < i of latency (us) of version v on c cores at level index l. */
  private readonly prefix: Float64Array[][][];
  private readonly blockOverrides = new Map<string, Map<string, VersionProfile>>();
  /** Solo latency at 1 core, fastest version, per layer: the "work" a query's budget is split by. */
  readonly layerWorkUs: readonly number[];

  constructor(readonly data: ModelProfileData) {
    this.model = data.model;
    this.layerCount = data.layers.length;
    this.maxCores = Math.max(...data.coreCounts, data.machine.usableCores);
    this.levels = data.levels;
    const ids = new Set<string>();
    for (const l of data.layers) for (const v of l.versions) ids.add(v.version);
    this.versions = [...ids];
    this.prefix = this.versions.map((v) => this.buildPrefix(v));
    this.layerWorkUs = data.layers.map((_, i) =>
      this.minOver(this.versions, (v) => this.layerUs(i, v, 1, 0)),
    );
    for (const b of data.blocks ?? []) {
      this.blockOverrides.set(`${b.range[0]}:${b.range[1]}`, new Map(b.versions.map((v) => [v.version, v])));
    }
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
            const vp = this.versionOf(i, version);
            p[i + 1] = p[i] + soloAt(vp, this.data.coreCounts, c) * vp.slowdown[li];
          }
          return p;
        }),
      );
    }
    return byCores;
  }

  private versionOf(layer: number, version: string): VersionProfile {
    const versions = this.data.layers[layer].versions;
    const found = versions.find((v) => v.version === version);
    if (found) return found;
    let best = versions[0];
    for (const v of versions) if (v.soloUs[0] < best.soloUs[0]) best = v;
    return best;
  }

  private clampCores(cores: number): number {
    return Math.max(1, Math.min(this.maxCores, Math.round(cores)));
  }

  /** Latency of one layer, one version. */
  layerUs(layer: number, version: string, cores: number, level: number): number {
    const vp = this.versionOf(layer, version);
    return (
      soloAt(vp, this.data.coreCounts, this.clampCores(cores)) * slowdownAt(vp.slowdown, this.levels, level)
    );
  }

  /** Latency of layers [i, j) with one version on `cores` cores at interference `level`. */
  blockUs(i: number, j: number, version: string, cores: number, level: number): number {
    const c = this.clampCores(cores);
    const override = this.blockOverrides.get(`${i}:${j}`)?.get(version);
    if (override)
      return soloAt(override, this.data.coreCounts, c) * slowdownAt(override.slowdown, this.levels, level);
    const vi = this.versions.indexOf(version);
    if (vi < 0) throw new Error(`${this.model}: no version ${version}`);
    const perLevel = this.prefix[vi][c];
    const { lo, hi, t } = bracket(this.levels, level);
    const sumLo = perLevel[lo][j] - perLevel[lo][i];
    const sumHi = perLevel[hi][j] - perLevel[hi][i];
    return sumLo + (sumHi - sumLo) * t;
  }

  /** The best version for [i, j) on `cores` at `level`, and its latency. */
  predict(i: number, j: number, cores: number, level: number): Prediction {
    let best: Prediction = { latencyUs: Infinity, version: this.versions[0] };
    for (const v of this.versions) {
      const us = this.blockUs(i, j, v, cores, level);
      if (us < best.latencyUs) best = { latencyUs: us, version: v };
    }
    return best;
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
  const { lo, hi, t } = bracket(levels, level);
  return slowdown[lo] + (slowdown[hi] - slowdown[lo]) * t;
}

/** Neighbouring level indices and the position between them (t may exceed 1 above the top). */
function bracket(levels: readonly number[], level: number): { lo: number; hi: number; t: number } {
  const n = levels.length;
  if (n === 1 || level <= levels[0]) return { lo: 0, hi: 0, t: 0 };
  let k = 0;
  while (k < n - 2 && levels[k + 1] < level) k++;
  const t = (level - levels[k]) / (levels[k + 1] - levels[k]);
  return { lo: k, hi: k + 1, t };
}
