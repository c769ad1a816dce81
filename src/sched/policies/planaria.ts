/**
 * `planaria`: Planaria (MICRO 2020, dynamic architecture fission) adapted to CPUs as in the
 * VELTAIR paper. A query runs in blocks of `blockLayers` layers, and at every block boundary
 * its cores are decided again, as Planaria re-fissions the accelerator when a task arrives or
 * ends. At each decision point the waiting queries (arrivals, and running queries at a block
 * boundary) are taken least slack first; each is granted the fewest cores on which the rest of
 * its model meets its deadline within `slackShare` of its slack (one that does not fit waits,
 * and later ones may backfill). Cores still free after that go as leftovers in proportion to
 * urgency (1 / slack), each query up to its block's fastest core count, except a reserve of
 * `reserveShare` of the machine kept free for urgent arrivals.
 *
 * So a query with slack that reaches a boundary while an urgent one waits shrinks to what it
 * needs: the urgent one is served first from the cores it just released, and it grows back
 * with leftovers when the machine is quiet.
 *
 * Keeps: per-task allocation of the fewest resources meeting QoS, priority by slack, leftover
 * resources to the tasks that gain from them, and re-allocation of running tasks' resources.
 * Drops: re-allocation inside a block (a running block keeps its cores until its boundary,
 * where Planaria would fission at once) and Planaria's accelerator-specific costs (pod
 * reconfiguration, tile-level fission); threads on cores have no such cost here. The version
 * follows `versionRule` (see `BaselineVersionRule`); `drop` is the early drop of `DropRule`.
 */
import type { ProfilePredictor } from '../../profile/index.js';
import {
  cannotMeet,
  chooseVersion,
  dispatch,
  dropParam,
  planningRule,
  reject,
  versionRuleParam,
  type BaselineVersionRule,
  type DropRule,
} from '../common.js';
import { latencyByCores, layerTable, planBlock, type BlockPlanOptions } from '../plan.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec, Query } from '../types.js';

interface Grant {
  readonly query: Query;
  readonly pred: ProfilePredictor;
  readonly block: readonly [number, number];
  cores: number;
  readonly slackMs: number;
}

interface Ranked {
  readonly query: Query;
  readonly pred: ProfilePredictor;
  /** Deadline minus now minus the least time the rest of the query can take, in ms. */
  readonly slackMs: number;
}

interface PlanariaConfig {
  readonly slackShare: number;
  readonly blockLayers: number;
  readonly reserveShare: number;
  readonly versionRule: BaselineVersionRule;
  readonly drop: DropRule;
}

export const planaria = {
  name: 'planaria',
  summary:
    'Planaria on CPUs: fewest cores meeting QoS per query, re-decided at block boundaries, leftovers by slack',
  role: 'baseline',
  paramGrid: { blockLayers: [2, 4], reserveShare: [0, 0.0625], versionRule: [0, 1, 2], drop: [1, 2] },
  defaults: { slackShare: 0.85, blockLayers: 2, reserveShare: 0.0625, versionRule: 2, drop: 1 },
  create(params: PolicyParams, _ctx: PolicyContext) {
    const cfg: PlanariaConfig = {
      slackShare: params.slackShare ?? 0.85,
      blockLayers: Math.max(1, Math.round(params.blockLayers ?? 2)),
      reserveShare: Math.max(0, Math.min(1, params.reserveShare ?? 0.0625)),
      versionRule: versionRuleParam(params.versionRule),
      drop: dropParam(params.drop ?? 1),
    };
    return { name: 'planaria', decide: (view: EngineView) => decidePlanaria(cfg, view) };
  },
} satisfies PolicySpec;

function decidePlanaria(cfg: PlanariaConfig, view: EngineView): Decision[] {
  const out: Decision[] = [];
  const grants: Grant[] = [];
  let free = view.freeCores;
  const o = planOptions(cfg, view);
  for (const { query, pred, slackMs } of rank(cfg, view)) {
    if (cannotMeet(view, query, cfg.drop)) {
      out.push(reject(query));
      continue;
    }
    const budgetUs = Math.max(0, (query.deadlineMs - view.nowMs) * 1000 * cfg.slackShare);
    // The fewest cores on which the whole rest of the model fits the budget.
    const need = planBlock(pred, query.nextLayer, budgetUs, o).cores;
    if (need > free) continue;
    const block = [query.nextLayer, Math.min(pred.layerCount, query.nextLayer + cfg.blockLayers)] as const;
    grants.push({ query, pred, block, cores: need, slackMs });
    free -= need;
  }
  const reserve = Math.round(cfg.reserveShare * view.totalCores);
  shareLeftovers(grants, Math.max(0, free - reserve), view.totalCores, o);
  for (const g of grants) {
    const { version } = chooseVersion(g.pred, g.block, g.cores, view.interference, cfg.versionRule);
    out.push(dispatch(g.query, g.block, g.cores, version));
  }
  return out;
}

/** Whole-model planning: one block for the rest of the model, its cores fitting the budget. */
function planOptions(cfg: PlanariaConfig, view: EngineView): BlockPlanOptions {
  return {
    level: view.interference,
    threshold: Infinity,
    maxLayers: Infinity,
    coreLimit: view.totalCores,
    versionRule: planningRule(cfg.versionRule),
    splitRule: 'work',
    maxBlockUs: Infinity,
  };
}

function rank(cfg: PlanariaConfig, view: EngineView): Ranked[] {
  const rule = planningRule(cfg.versionRule);
  return view.waiting
    .map((query) => {
      const pred = view.profile(query.model);
      const leastUs = layerTable(pred, view.interference, rule).minRemainingUs[query.nextLayer];
      return { query, pred, slackMs: query.deadlineMs - view.nowMs - leastUs / 1000 };
    })
    .sort((a, b) => a.slackMs - b.slackMs);
}

/** Fewest cores giving the block its lowest latency. */
function fastestCores(
  pred: ProfilePredictor,
  block: readonly [number, number],
  limit: number,
  o: BlockPlanOptions,
): number {
  const us = latencyByCores(pred, block, limit, o);
  let [best, bestUs] = [1, Infinity];
  for (let c = 1; c < us.length; c++) if (us[c] < bestUs) [best, bestUs] = [c, us[c]];
  return best;
}

/** Hands out `pool` cores in proportion to 1 / slack, each grant capped at its fastest count. */
function shareLeftovers(grants: Grant[], pool: number, limit: number, o: BlockPlanOptions): void {
  if (pool <= 0) return;
  // Cores past which a block gets no faster: a scan of every core count, so only when needed.
  const fastest = new Map(grants.map((g) => [g, fastestCores(g.pred, g.block, limit, o)]));
  const cap = (g: Grant) => fastest.get(g) ?? g.cores;
  let open = grants.filter((g) => g.cores < cap(g));
  while (pool > 0 && open.length > 0) {
    const weights = open.map((g) => 1 / Math.max(1, g.slackMs));
    const total = weights.reduce((a, b) => a + b, 0);
    let given = 0;
    open.forEach((g, k) => {
      const want = Math.max(1, Math.floor((pool * weights[k]) / total));
      const extra = Math.min(want, cap(g) - g.cores, pool - given);
      g.cores += extra;
      given += extra;
    });
    if (given === 0) break;
    pool -= given;
    open = open.filter((g) => g.cores < cap(g));
  }
}
