/**
 * Fast per-layer latency tables and the block planner the VELTAIR policies share.
 *
 * Tables are memoised per (predictor, quantised interference level). That is a cache of a
 * pure function, not state between decisions: the same view still gives the same decisions.
 */
import type { ProfilePredictor } from '../profile/index.js';

/** Levels are quantised to this fraction of the profile's top level before tables are built. */
const LEVEL_STEPS = 16;

/**
 * Per layer, latency on c cores (c = 1..maxCores) at one interference level:
 * - `bestUs[l][c]`: best version at this level;
 * - `envUs[l][c]`: min over c' <= c of `bestUs[l][c']` (non-increasing, so binary-searchable).
 */
export class LayerTable {
  readonly bestUs: Float64Array[];
  readonly envUs: Float64Array[];
  /** `minRemainingUs[l]`: sum over layers >= l of their lowest latency on any core count. */
  readonly minRemainingUs: Float64Array;
  /** `fastestUs[l]`: `envUs[l][maxCores]`, flat for the water-filling loop. */
  readonly fastestUs: Float64Array;
  /**
   * `workFromUs[l]`: layers >= l's work (`layerWorkUs`) summed from l upwards, in the order
   * the water-filling's first round adds it, so that round is a lookup with the same result.
   */
  readonly workFromUs: Float64Array;

  constructor(
    readonly pred: ProfilePredictor,
    readonly level: number,
    readonly rule: VersionRule,
  ) {
    this.bestUs = [];
    this.envUs = [];
    this.minRemainingUs = new Float64Array(pred.layerCount + 1);
    const solo = soloTables(pred);
    for (let l = 0; l < pred.layerCount; l++) {
      // Interference scales a layer's latency by one factor per version, whatever the cores.
      const slow = pred.versions.map((v) => pred.layerUs(l, v, 1, level) / pred.layerUs(l, v, 1, 0));
      const best = new Float64Array(pred.maxCores + 1).fill(Infinity);
      const env = new Float64Array(pred.maxCores + 1).fill(Infinity);
      for (let c = 1; c <= pred.maxCores; c++) {
        let [bestSolo, bestAt] = [Infinity, Infinity];
        for (let v = 0; v < slow.length; v++) {
          const us = solo[v][l][c];
          bestAt = Math.min(bestAt, us * slow[v]);
          if (us < bestSolo) [bestSolo, best[c]] = [us, us * slow[v]];
        }
        if (rule === 'adaptive') best[c] = bestAt;
        env[c] = Math.min(env[c - 1], best[c]);
      }
      this.bestUs.push(best);
      this.envUs.push(env);
    }
    for (let l = pred.layerCount - 1; l >= 0; l--) {
      this.minRemainingUs[l] = this.minRemainingUs[l + 1] + this.envUs[l][pred.maxCores];
    }
    this.fastestUs = Float64Array.from(this.envUs, (env) => env[pred.maxCores]);
    this.workFromUs = new Float64Array(pred.layerCount + 1);
    for (let from = 0; from < pred.layerCount; from++) {
      let sum = 0;
      for (let l = from; l < pred.layerCount; l++) sum += pred.layerWorkUs[l];
      this.workFromUs[from] = sum;
    }
  }

  private efficient: EfficientSplit | undefined;

  /** Core-time-optimal choices for a ladder of latency prices (built on first use). */
  efficientSplit(): EfficientSplit {
    return (this.efficient ??= new EfficientSplit(this));
  }

  /**
   * Fewest cores (<= limit) on which `layer` fits `budgetUs`; when none does, the fewest
   * cores that give its lowest latency within the limit.
   */
  demandCores(layer: number, budgetUs: number, limit: number): number {
    const env = this.envUs[layer];
    const top = Math.max(1, Math.min(limit, this.pred.maxCores));
    const target = Math.max(budgetUs, env[top]);
    let [lo, hi] = [1, top];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (env[mid] <= target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Latency prices (cores per unit of time saved) from "core-time only" to "latency only". */
const PRICES = [0, ...Array.from({ length: 31 }, (_, k) => 0.25 * Math.SQRT2 ** k), Infinity];

/**
 * For each price p on a ladder, each layer's core count minimising latency x (cores + p):
 * p = 0 gives the least core-time, p = Infinity the lowest latency. A plan that must fit a
 * budget takes the lowest price whose remaining latency fits: the fewest core-seconds that
 * still meet the deadline (a Lagrangian relaxation of "min core-time s.t. latency <= budget").
 */
export class EfficientSplit {
  /** Per price index g: cores[l] and remainingUs[l] (sum over layers >= l); built on first ask. */
  private readonly rows: ({ cores: Uint16Array; remainingUs: Float64Array } | undefined)[] = [];

  constructor(readonly table: LayerTable) {}

  /** Each layer's core count at price PRICES[g]. */
  cores(g: number): Uint16Array {
    return this.row(g).cores;
  }

  /** Latency of layers >= l at price PRICES[g], by l. */
  remainingUs(g: number): Float64Array {
    return this.row(g).remainingUs;
  }

  /** Index of the lowest price whose plan for layers >= from fits `budgetUs` (the last if none). */
  priceFor(from: number, budgetUs: number): number {
    for (let g = 0; g < PRICES.length; g++) if (this.remainingUs(g)[from] <= budgetUs) return g;
    return PRICES.length - 1;
  }

  // Rows are independent and most plans fit at the first few prices: a table used at one
  // interference level for a few decisions builds only those.
  private row(g: number): { cores: Uint16Array; remainingUs: Float64Array } {
    return (this.rows[g] ??= this.build(PRICES[g]));
  }

  private build(price: number): { cores: Uint16Array; remainingUs: Float64Array } {
    const table = this.table;
    const n = table.bestUs.length;
    const top = table.pred.maxCores;
    const cores = new Uint16Array(n);
    const rem = new Float64Array(n + 1);
    for (let l = n - 1; l >= 0; l--) {
      const best = table.bestUs[l];
      let [arg, cost] = [1, Infinity];
      for (let c = 1; c <= top; c++) {
        const v = price === Infinity ? best[c] : best[c] * (c + price);
        // Ties (linear scaling) go to more cores: the same core-time, sooner.
        if (v <= cost * (1 + 1e-9)) [arg, cost] = [c, Math.min(v, cost)];
      }
      cores[l] = arg;
      rem[l] = rem[l + 1] + best[arg];
    }
    return { cores, remainingUs: rem };
  }
}

const solos = new WeakMap<ProfilePredictor, Float64Array[][]>();

/** `[version][layer][cores]` solo latency in us, built once per predictor. */
function soloTables(pred: ProfilePredictor): Float64Array[][] {
  let t = solos.get(pred);
  if (!t) {
    t = pred.versions.map((v) =>
      Array.from({ length: pred.layerCount }, (_, l) => {
        const row = new Float64Array(pred.maxCores + 1).fill(Infinity);
        for (let c = 1; c <= pred.maxCores; c++) row[c] = pred.layerUs(l, v, c, 0);
        return row;
      }),
    );
    solos.set(pred, t);
  }
  return t;
}

/** Per predictor and rule, tables by grid step (an integer key: cheaper to hash than a level). */
const tables = new WeakMap<
  ProfilePredictor,
  { adaptive: Map<number, LayerTable>; soloFastest: Map<number, LayerTable> }
>();

/** The table grid's step: a fraction of the profile's highest measured level. */
function levelStep(pred: ProfilePredictor): number {
  const top = pred.levels[pred.levels.length - 1] || 1;
  return top / LEVEL_STEPS;
}

/** Rounds `level` to the table grid (a fraction of the profile's highest measured level). */
export function quantiseLevel(pred: ProfilePredictor, level: number): number {
  const step = levelStep(pred);
  return Math.max(0, Math.round(level / step) * step);
}

export function layerTable(
  pred: ProfilePredictor,
  level: number,
  rule: VersionRule = 'adaptive',
): LayerTable {
  // Grid steps map one to one to quantised levels (all at or below 0 to level 0).
  const key = Math.max(0, Math.round(level / levelStep(pred)));
  let byRule = tables.get(pred);
  if (!byRule) tables.set(pred, (byRule = { adaptive: new Map(), soloFastest: new Map() }));
  const byKey = rule === 'adaptive' ? byRule.adaptive : byRule.soloFastest;
  let table = byKey.get(key);
  if (!table) byKey.set(key, (table = new LayerTable(pred, quantiseLevel(pred, level), rule)));
  return table;
}

/** How a block's version is chosen. */
export type VersionRule = 'adaptive' | 'solo-fastest';

/**
 * How a query's remaining budget is split across its layers:
 * - `work`: in proportion to each layer's work (the VELTAIR paper's rule), except that a layer
 *   that cannot meet its share even on its fastest core count gets that fastest latency and
 *   the others share what is left (water-filling);
 * - `efficient`: the per-layer core counts with the least core-time that fit the budget
 *   (see `EfficientSplit`), each layer's share scaled up to use the whole budget.
 */
export type SplitRule = 'work' | 'efficient';

export interface BlockPlanOptions {
  /** Interference estimate the plan is made for. */
  readonly level: number;
  /** Layers merge while max/min of their core demands stays within 1 + threshold. */
  readonly threshold: number;
  /** Upper bound on layers per block (Infinity for adaptive blocks). */
  readonly maxLayers: number;
  /** Most cores a block may ask for. */
  readonly coreLimit: number;
  readonly versionRule: VersionRule;
  readonly splitRule: SplitRule;
  /** A block stops growing before its planned time would pass this (us; Infinity: no cap). */
  readonly maxBlockUs: number;
}

export interface BlockPlan {
  readonly block: readonly [number, number];
  readonly cores: number;
  readonly version: string;
  /** Predicted latency of the block on `cores` with `version`, in us. */
  readonly latencyUs: number;
  /** The share of the budget the block's layers were given, in us. */
  readonly shareUs: number;
}

/**
 * Plans the next block of a query from layer `from` given `budgetUs` for all its remaining
 * layers: each layer gets a share of the budget (see `SplitRule`) and asks for the fewest
 * cores that fit its share; consecutive layers with close demands form the block, which gets
 * the fewest cores that fit the sum of their shares.
 */
export function planBlock(
  pred: ProfilePredictor,
  from: number,
  budgetUs: number,
  o: BlockPlanOptions,
): BlockPlan {
  const table = layerTable(pred, o.level, o.versionRule);
  const limit = Math.min(o.coreLimit, pred.maxCores);
  const split =
    o.splitRule === 'efficient' ? efficientShares(table, from, budgetUs) : workShares(table, from, budgetUs);
  const demand = (l: number, layerShareUs: number) =>
    Math.min(limit, split.demand(l) ?? table.demandCores(l, layerShareUs, limit));
  let shareUs = split.shareUs(from);
  let lo = demand(from, shareUs);
  let hi = lo;
  let end = from + 1;
  while (end < pred.layerCount && end - from < o.maxLayers) {
    const layerShareUs = split.shareUs(end);
    const d = demand(end, layerShareUs);
    const [nlo, nhi] = [Math.min(lo, d), Math.max(hi, d)];
    if (nhi > nlo * (1 + o.threshold)) break;
    // A long block holds its cores past other queries' deadlines and commits this one to a
    // stale plan: end it before it would pass the time cap.
    if (shareUs + layerShareUs > o.maxBlockUs) break;
    [lo, hi, shareUs, end] = [nlo, nhi, shareUs + layerShareUs, end + 1];
  }
  return fitBlock(pred, [from, end], shareUs, lo, hi, o);
}

interface Shares {
  shareUs(layer: number): number;
  /** The layer's core demand where the split fixes it; otherwise derived from its share. */
  demand(layer: number): number | undefined;
}

function workShares(table: LayerTable, from: number, budgetUs: number): Shares {
  const pred = table.pred;
  const work = pred.layerWorkUs;
  const fastestUs = table.fastestUs;
  // Water-filling: layers that cannot meet a proportional share get their fastest latency.
  // Pinning a layer only lowers the others' rate, so iterate the rate down to its fixpoint;
  // a layer is pinned exactly when its share at the final rate is below its fastest latency.
  // The first round (an infinite rate) pins no layer: all the budget over all the work.
  let perWork = Infinity;
  let next = table.workFromUs[from] > 0 ? Math.max(0, budgetUs) / table.workFromUs[from] : 0;
  for (let round = 1; round <= pred.layerCount && next < perWork; round++) {
    perWork = next;
    let freeBudget = budgetUs;
    let freeWork = 0;
    for (let l = from; l < pred.layerCount; l++) {
      if (work[l] * perWork < fastestUs[l]) freeBudget -= fastestUs[l];
      else freeWork += work[l];
    }
    next = freeWork > 0 ? Math.max(0, freeBudget) / freeWork : 0;
  }
  if (next < perWork) perWork = next;
  return {
    shareUs: (l) => Math.max(work[l] * perWork, fastestUs[l]),
    demand: () => undefined,
  };
}

function efficientShares(table: LayerTable, from: number, budgetUs: number): Shares {
  const split = table.efficientSplit();
  const g = split.priceFor(from, budgetUs);
  const cores = split.cores(g);
  const planUs = split.remainingUs(g)[from];
  const scale = planUs > 0 ? Math.max(1, budgetUs / planUs) : 1;
  return {
    shareUs: (l) => table.bestUs[l][cores[l]] * scale,
    demand: (l) => cores[l],
  };
}

/** The fewest cores in [lo, hi] on which the block fits `shareUs` (hi when none does). */
function fitBlock(
  pred: ProfilePredictor,
  block: readonly [number, number],
  shareUs: number,
  lo: number,
  hi: number,
  o: BlockPlanOptions,
): BlockPlan {
  let chosen = versionFor(pred, block, hi, o);
  let cores = hi;
  for (let c = hi - 1; c >= lo; c--) {
    const v = versionFor(pred, block, c, o);
    if (v.latencyUs > shareUs) break;
    [chosen, cores] = [v, c];
  }
  return { block, cores, version: chosen.version, latencyUs: chosen.latencyUs, shareUs };
}

/** `versionFor(...).latencyUs` on every core count 1..limit, as out[c]: one pass for planners that scan them all. */
export function latencyByCores(
  pred: ProfilePredictor,
  block: readonly [number, number],
  limit: number,
  o: Pick<BlockPlanOptions, 'level' | 'versionRule'>,
): Float64Array {
  const pick = o.versionRule === 'adaptive' ? 'at-level' : 'alone';
  return pred.latencyAcrossCores(block[0], block[1], o.level, pick, limit);
}

/** Version and latency of `block` on `cores` under the rule. */
export function versionFor(
  pred: ProfilePredictor,
  block: readonly [number, number],
  cores: number,
  o: Pick<BlockPlanOptions, 'level' | 'versionRule'>,
): { version: string; latencyUs: number } {
  const [i, j] = block;
  if (o.versionRule === 'adaptive') return pred.predict(i, j, cores, o.level);
  const { version } = pred.predict(i, j, cores, 0);
  return { version, latencyUs: pred.blockUs(i, j, version, cores, o.level) };
}
