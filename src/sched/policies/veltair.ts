/**
 * `veltair`: the VELTAIR scheduler (ASPLOS 2022): adaptive layer blocks plus adaptive
 * version choice. At every decision point, for each waiting query, least slack first: split
 * its remaining budget across its remaining layers (by default the per-layer core counts with
 * the least core-time that fit it; optionally in proportion to work, the paper's rule); give
 * each layer the fewest cores that fit its share at the interference the block will meet; merge
 * consecutive layers whose demands are within a threshold, up to a time cap, into one block;
 * run the block on the fewest cores that fit the block's share, with the version that is
 * fastest there counting the pressure it puts on the cores already busy. Threshold and cap
 * grow with the measured conflict rate and with load (coarser blocks, fewer scheduling
 * points) and shrink when the machine idles. The interference planned for is the higher of
 * the engine's estimate and the pressure the running blocks exert by their profiles. When
 * fewer cores are free than the block wants, it runs a prefix on what is free if that ends
 * no later than waiting would, else it waits and holds a reservation that later queries may
 * only backfill around. Queries that can no longer meet their deadline are dropped early.
 * docs/policies.md describes each step and parameter.
 *
 * The ablations share this code: `veltair-fixed` (blocks of a fixed number of layers) and
 * `veltair-1v` (one version per layer: the one fastest alone).
 */
import { blockPressure, type ProfilePredictor } from '../../profile/index.js';
import { dispatch } from '../common.js';
import {
  layerTable,
  planBlock,
  versionFor,
  type BlockPlan,
  type BlockPlanOptions,
  type SplitRule,
  type VersionRule,
} from '../plan.js';
import type {
  Decision,
  EngineView,
  Policy,
  PolicyContext,
  PolicyParams,
  PolicySpec,
  Query,
} from '../types.js';

/** Knobs of the VELTAIR family; the three registered policies fix some of them. */
export interface VeltairConfig {
  readonly name: string;
  /** Relative demand spread a block tolerates at half load without conflicts. */
  readonly threshold: number;
  /** How much coarser blocks get per unit of measured conflict rate (see `coarsening`). */
  readonly conflictSensitivity: number;
  /** How much coarser blocks get from idle to saturated load. */
  readonly loadSensitivity: number;
  /** Fraction of the remaining slack a plan may use (the rest absorbs queueing at block boundaries). */
  readonly budgetFactor: number;
  /** Hold cores for the most urgent blocked query (EASY backfilling) instead of greedy backfill. */
  readonly reserve: boolean;
  /** A block ends before its planned time passes this (us; Infinity: no cap). */
  readonly maxBlockUs: number;
  /** Weight of the slowdown a version inflicts on co-runners when choosing it (0: own latency only). */
  readonly externality: number;
  /** Plan for the interference the running blocks' profiled pressure implies, when above the monitor's. */
  readonly pressureAware: boolean;
  /**
   * Reject queries that cannot meet their deadline even on the best core count: `never`;
   * `solo` (not even without interference: certain misses only); `at-estimate` (not at the
   * interference expected now: likely misses, shed early to protect the others);
   * `queue-aware` (as `at-estimate`, and also when it must wait for cores and would miss
   * even on them once they free up).
   */
  readonly drop: 'never' | 'solo' | 'at-estimate' | 'queue-aware';
  /** Most layers per block (Infinity: adaptive). */
  readonly maxLayers: number;
  readonly versionRule: VersionRule;
  readonly splitRule: SplitRule;
}

export function createVeltair(cfg: VeltairConfig): Policy {
  return { name: cfg.name, decide: (view) => decideVeltair(cfg, view) };
}

/**
 * How much coarser than at half load without conflicts blocks are now: it grows with the
 * measured conflict rate (fewer scheduling points, fewer conflicts) and with load, and falls
 * when the machine idles. Scales both the demand threshold and the time cap of a block.
 */
export function coarsening(cfg: VeltairConfig, view: EngineView): number {
  const load = Math.max(0, Math.min(1, view.recentLoad));
  const conflicts = Math.max(0, Math.min(1, view.recentConflictRate));
  return Math.max(0, 1 + cfg.loadSensitivity * (load - 0.5) + cfg.conflictSensitivity * conflicts);
}

/** The block threshold for the current load and conflict rate. */
export function blockThreshold(cfg: VeltairConfig, view: EngineView): number {
  return cfg.threshold * coarsening(cfg, view);
}

interface Ranked {
  readonly query: Query;
  readonly pred: ProfilePredictor;
  /** Deadline minus now minus the least time the rest of the query can take, in ms. */
  readonly slackMs: number;
}

function rank(cfg: VeltairConfig, view: EngineView): Ranked[] {
  const ranked = view.waiting.map((query) => {
    const pred = view.profile(query.model);
    const minUs = layerTable(pred, view.interference, cfg.versionRule).minRemainingUs[query.nextLayer];
    return { query, pred, slackMs: query.deadlineMs - view.nowMs - minUs / 1000 };
  });
  return ranked.sort((a, b) => a.slackMs - b.slackMs);
}

/** Least time the rest of the query can take at interference `level`, in ms. */
function leastRemainingMs(cfg: VeltairConfig, r: Ranked, level: number): number {
  return layerTable(r.pred, level, cfg.versionRule).minRemainingUs[r.query.nextLayer] / 1000;
}

function decideVeltair(cfg: VeltairConfig, view: EngineView): Decision[] {
  const out: Decision[] = [];
  const cores = new CoreTimeline(view);
  const coarser = coarsening(cfg, view);
  // One options object, its level set per query: the planners read it and keep nothing.
  const options: { -readonly [K in keyof BlockPlanOptions]: BlockPlanOptions[K] } = {
    level: view.interference,
    threshold: cfg.threshold * coarser,
    maxLayers: cfg.maxLayers,
    coreLimit: view.totalCores,
    maxBlockUs: cfg.maxBlockUs * coarser,
    versionRule: cfg.versionRule,
    splitRule: cfg.splitRule,
  };
  // Interference the next block will meet: the monitor's estimate, or the pressure the blocks
  // running now (and those started in this round) exert, whichever is higher.
  let pressure = 0;
  for (const run of view.running) {
    pressure +=
      blockPressure(view.profile(run.model), run.block[0], run.block[1], run.version, 'work') * run.cores;
  }
  for (const r of rank(cfg, view)) {
    const q = r.query;
    options.level = plannedLevel(cfg, view, pressure);
    const dropLevel = cfg.drop === 'solo' ? 0 : options.level;
    if (cfg.drop !== 'never' && view.nowMs + leastRemainingMs(cfg, r, dropLevel) > q.deadlineMs) {
      out.push({ kind: 'reject', query: q.id, reason: 'deadline_unreachable' });
      continue;
    }
    // Nothing left to start and nothing left to reserve: planning the rest would change nothing.
    if (cores.free === 0 && (cores.reserved || !cfg.reserve) && cfg.drop !== 'queue-aware') continue;
    const budgetUs = Math.max(0, (q.deadlineMs - view.nowMs) * 1000 * cfg.budgetFactor);
    const plan = considerate(
      cfg,
      r.pred,
      planBlock(r.pred, q.nextLayer, budgetUs, options),
      options,
      view.totalCores - cores.free,
    );
    const endMs = view.nowMs + plan.latencyUs / 1000;
    if (plan.cores <= cores.free) {
      if (!cores.mayStart(plan.cores, endMs)) continue;
      out.push(dispatch(q, plan.block, plan.cores, plan.version));
      cores.start(plan.cores, endMs);
      pressure += blockPressure(r.pred, plan.block[0], plan.block[1], plan.version, 'work') * plan.cores;
      continue;
    }
    // Conflict: fewer cores are free than the block wants.
    const readyMs = cores.whenFree(plan.cores);
    const partial = onFreeCores(r.pred, q, plan, readyMs, cores, options, view.nowMs);
    if (partial) {
      out.push(partial.decision);
      pressure +=
        blockPressure(r.pred, partial.block[0], partial.block[1], partial.version, 'work') * partial.cores;
      cores.start(partial.cores, partial.endMs);
      continue;
    }
    // It must wait. With queue-aware dropping, give up now if even the cores it waits for
    // cannot finish it in time: its cores go to queries that can still make it.
    if (cfg.drop === 'queue-aware' && readyMs + leastRemainingMs(cfg, r, options.level) > q.deadlineMs) {
      out.push({ kind: 'reject', query: q.id, reason: 'deadline_unreachable' });
      continue;
    }
    if (cfg.reserve) cores.reserve(plan.cores, readyMs);
  }
  return out;
}

/**
 * In a conflict: the prefix of the planned block that fits before the wanted cores free up,
 * run now on the free cores, if that ends no later than waiting for them would (the query
 * re-plans when it ends); undefined when it should wait.
 */
function onFreeCores(
  pred: ProfilePredictor,
  q: Query,
  plan: BlockPlan,
  readyMs: number,
  cores: CoreTimeline,
  o: BlockPlanOptions,
  nowMs: number,
) {
  if (cores.free <= 0) return undefined;
  const block = prefixWithin(pred, plan.block, cores.free, readyMs - nowMs, o);
  const alt = versionFor(pred, block, cores.free, o);
  const endMs = nowMs + alt.latencyUs / 1000;
  const waitEndMs = readyMs + versionFor(pred, block, plan.cores, o).latencyUs / 1000;
  if (endMs > waitEndMs || !cores.mayStart(cores.free, endMs)) return undefined;
  const decision = dispatch(q, block, cores.free, alt.version, plan.cores);
  return { decision, block, version: alt.version, cores: cores.free, endMs };
}

/**
 * The interference a block about to start should be planned for: the monitor's estimate
 * (it lags: it averages blocks that already ended), or with `pressureAware` the pressure the
 * blocks running now exert according to their profiles, whichever is higher.
 */
function plannedLevel(cfg: VeltairConfig, view: EngineView, pressure: number): number {
  return cfg.pressureAware ? Math.max(view.interference, pressure) : view.interference;
}

/**
 * Re-picks the block's version counting the slowdown it inflicts on the `busyCores` already
 * running: cost = latency x (1 + weight x busy cores x its pressure per core). A version that
 * is a little slower alone but lighter on shared caches and memory wins when the machine is full.
 */
function considerate(
  cfg: VeltairConfig,
  pred: ProfilePredictor,
  plan: BlockPlan,
  o: BlockPlanOptions,
  busyCores: number,
): BlockPlan {
  if (cfg.externality <= 0 || o.versionRule !== 'adaptive' || busyCores <= 0) return plan;
  const [i, j] = plan.block;
  let version = plan.version;
  let latencyUs = plan.latencyUs;
  let bestCost = Infinity;
  for (const v of pred.versions) {
    if (!pred.competes(i, j, v)) continue;
    const us = pred.blockUs(i, j, v, plan.cores, o.level);
    const cost = us * (1 + cfg.externality * busyCores * blockPressure(pred, i, j, v, 'work'));
    if (cost < bestCost) {
      version = v;
      latencyUs = us;
      bestCost = cost;
    }
  }
  if (version === plan.version && Object.is(latencyUs, plan.latencyUs)) return plan;
  return { ...plan, version, latencyUs };
}

/** The longest prefix of `block` (at least one layer) that runs within `windowMs` on `cores`. */
function prefixWithin(
  pred: ProfilePredictor,
  block: readonly [number, number],
  cores: number,
  windowMs: number,
  o: BlockPlanOptions,
): readonly [number, number] {
  const table = layerTable(pred, o.level, o.versionRule);
  const [i, j] = block;
  let [end, us] = [i + 1, table.bestUs[i][cores]];
  while (end < j && us + table.bestUs[end][cores] <= windowMs * 1000) us += table.bestUs[end++][cores];
  return [i, end];
}

/**
 * Free cores now and when running blocks are expected to release theirs, plus at most one
 * reservation (EASY backfilling): once the most urgent blocked query has reserved cores for
 * time T, a later query may start only if it ends by T or leaves the reserved cores free at T.
 */
class CoreTimeline {
  free: number;
  private readonly releases: { atMs: number; cores: number }[];
  private reservation: { atMs: number; spare: number } | undefined;

  get reserved(): boolean {
    return this.reservation !== undefined;
  }

  constructor(private readonly view: EngineView) {
    this.free = view.freeCores;
    this.releases = view.running.map((r) => ({
      atMs: Math.max(view.nowMs, r.expectedEndMs),
      cores: r.cores,
    }));
  }

  /** Earliest time `need` cores are expected to be free (Infinity if never). */
  whenFree(need: number): number {
    if (need <= this.free) return this.view.nowMs;
    const sorted = [...this.releases].sort((a, b) => a.atMs - b.atMs);
    let have = this.free;
    for (const r of sorted) {
      have += r.cores;
      if (have >= need) return r.atMs;
    }
    return Infinity;
  }

  mayStart(cores: number, endMs: number): boolean {
    const res = this.reservation;
    return !res || endMs <= res.atMs || cores <= res.spare;
  }

  start(cores: number, endMs: number): void {
    this.free -= cores;
    this.releases.push({ atMs: endMs, cores });
    const res = this.reservation;
    if (res && endMs > res.atMs) res.spare -= cores;
  }

  reserve(cores: number, atMs: number): void {
    if (this.reservation || !Number.isFinite(atMs)) return;
    let avail = this.free;
    for (const r of this.releases) if (r.atMs <= atMs) avail += r.cores;
    this.reservation = { atMs, spare: avail - cores };
  }
}

/** The configuration a registered spec builds from its parameters (the spec's defaults where absent). */
export function veltairConfig(
  name: string,
  params: PolicyParams,
  ctx?: Pick<PolicyContext, 'qosTargetMs'>,
  fixed: Partial<VeltairConfig> = {},
): VeltairConfig {
  const p = { ...veltair.defaults, ...params };
  // Blocks are capped in time at a share of the tightest QoS target served.
  const tightestMs = Math.min(...Object.values(ctx?.qosTargetMs ?? {}));
  return {
    name,
    threshold: p.threshold,
    conflictSensitivity: p.conflictSensitivity,
    loadSensitivity: p.loadSensitivity,
    budgetFactor: p.budgetFactor,
    reserve: p.reserve !== 0,
    pressureAware: p.pressureAware !== 0,
    externality: p.externality,
    maxBlockUs: p.blockSpan > 0 && Number.isFinite(tightestMs) ? p.blockSpan * tightestMs * 1000 : Infinity,
    drop: (['never', 'solo', 'at-estimate', 'queue-aware'] as const)[
      Math.max(0, Math.min(3, Math.round(p.drop)))
    ],
    maxLayers: Infinity,
    versionRule: 'adaptive',
    splitRule: p.split === 1 ? 'efficient' : 'work',
    ...fixed,
  };
}

/**
 * The planner's budget factors every policy that plans with it is tuned over (veltair, its
 * ablations, layer-wise): one range for one parameter, so no policy is tuned where another is not.
 */
export const PLANNER_BUDGET_FACTORS: readonly number[] = [0.2, 0.5, 0.65, 0.8];

export const veltair = {
  name: 'veltair',
  role: 'proposed',
  summary:
    'VELTAIR: adaptive layer blocks sized by slack, load and conflicts; version chosen by interference',
  paramGrid: {
    budgetFactor: PLANNER_BUDGET_FACTORS,
    blockSpan: [0.05, 0.15, 0.5],
    conflictSensitivity: [0, 16, 64],
  },
  defaults: {
    threshold: 0.5,
    conflictSensitivity: 4,
    loadSensitivity: 1,
    budgetFactor: 0.65,
    drop: 2,
    externality: 1,
    pressureAware: 1,
    reserve: 1,
    split: 1,
    blockSpan: 0.15,
  },
  create: (params: PolicyParams, ctx: PolicyContext) => createVeltair(veltairConfig('veltair', params, ctx)),
} satisfies PolicySpec;

function veltairDefaultsWithout(keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(veltair.defaults).filter(([k]) => !keys.includes(k)));
}

export const veltairFixed = {
  name: 'veltair-fixed',
  role: 'ablation',
  summary: 'ablation of veltair: blocks of a fixed number of layers instead of adaptive ones',
  paramGrid: { blockLayers: [1, 2, 4, 8, 16], budgetFactor: PLANNER_BUDGET_FACTORS },
  defaults: {
    ...veltairDefaultsWithout(['threshold', 'conflictSensitivity', 'loadSensitivity', 'blockSpan']),
    blockLayers: 4,
  },
  create: (params: PolicyParams, ctx: PolicyContext) =>
    createVeltair(
      veltairConfig('veltair-fixed', params, ctx, {
        threshold: Infinity,
        conflictSensitivity: 0,
        loadSensitivity: 0,
        maxLayers: Math.max(1, Math.round(params.blockLayers ?? 4)),
        maxBlockUs: Infinity,
      }),
    ),
} satisfies PolicySpec;

export const veltair1v = {
  name: 'veltair-1v',
  role: 'ablation',
  summary: 'ablation of veltair: one version per layer (the one fastest alone), no adaptive compilation',
  paramGrid: veltair.paramGrid,
  defaults: veltair.defaults,
  create: (params: PolicyParams, ctx: PolicyContext) =>
    createVeltair(veltairConfig('veltair-1v', params, ctx, { versionRule: 'solo-fastest' })),
} satisfies PolicySpec;
