/**
 * `planaria`: Planaria (MICRO 2020) adapted to CPUs as in the VELTAIR paper. Model-wise: a
 * query runs the rest of its model as one block. At every arrival and completion, waiting
 * queries are taken least slack first; each gets the fewest cores on which it still meets
 * its deadline with `slackShare` of its slack (a query that does not fit waits, and later
 * ones may backfill). Cores still free after that are handed out as leftovers in proportion
 * to urgency (1 / slack), each query up to its fastest core count. One version: the one
 * fastest alone.
 */
import { dispatch } from '../common.js';
import { layerTable, planBlock, versionFor, type BlockPlanOptions } from '../plan.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec, Query } from '../types.js';
import type { ProfilePredictor } from '../../profile/index.js';

interface Grant {
  readonly query: Query;
  readonly pred: ProfilePredictor;
  readonly block: readonly [number, number];
  cores: number;
  /** Cores past which the block gets no faster. */
  readonly fastest: number;
  readonly slackMs: number;
}

export const planaria = {
  name: 'planaria',
  summary: 'Planaria on CPUs: model-wise, fewest cores meeting QoS per query, leftover cores by slack',
  role: 'baseline',
  paramGrid: { slackShare: [0.5, 0.7, 0.85], leftoverShare: [0, 0.5, 1] },
  defaults: { slackShare: 0.85, leftoverShare: 1, drop: 1 },
  create(params: PolicyParams, _ctx: PolicyContext) {
    const slackShare = params.slackShare ?? 0.85;
    const leftoverShare = params.leftoverShare ?? 1;
    const drop = (params.drop ?? 1) !== 0;
    return {
      name: 'planaria',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        const grants: Grant[] = [];
        let free = view.freeCores;
        const o: BlockPlanOptions = {
          level: view.interference,
          threshold: Infinity,
          maxLayers: Infinity,
          coreLimit: view.totalCores,
          versionRule: 'solo-fastest',
          splitRule: 'work',
          maxBlockUs: Infinity,
        };
        const ranked = view.waiting
          .map((query) => {
            const pred = view.profile(query.model);
            const leastUs = layerTable(pred, view.interference, 'solo-fastest').minRemainingUs[
              query.nextLayer
            ];
            return { query, pred, slackMs: query.deadlineMs - view.nowMs - leastUs / 1000 };
          })
          .sort((a, b) => a.slackMs - b.slackMs);
        for (const { query, pred, slackMs } of ranked) {
          const leastUs = layerTable(pred, 0, 'solo-fastest').minRemainingUs[query.nextLayer];
          if (drop && view.nowMs + leastUs / 1000 > query.deadlineMs) {
            out.push({ kind: 'reject', query: query.id, reason: 'deadline_unreachable' });
            continue;
          }
          const budgetUs = Math.max(0, (query.deadlineMs - view.nowMs) * 1000 * slackShare);
          const plan = planBlock(pred, query.nextLayer, budgetUs, o);
          if (plan.cores > free) continue;
          const fastest = fastestCores(pred, plan.block, view.totalCores, o);
          grants.push({ query, pred, block: plan.block, cores: plan.cores, fastest, slackMs });
          free -= plan.cores;
        }
        shareLeftovers(grants, Math.floor(free * leftoverShare));
        for (const g of grants) {
          out.push(dispatch(g.query, g.block, g.cores, versionFor(g.pred, g.block, g.cores, o).version));
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;

/** Fewest cores giving the block its lowest latency. */
function fastestCores(
  pred: ProfilePredictor,
  block: readonly [number, number],
  limit: number,
  o: BlockPlanOptions,
): number {
  let [best, bestUs] = [1, Infinity];
  for (let c = 1; c <= Math.min(limit, pred.maxCores); c++) {
    const us = versionFor(pred, block, c, o).latencyUs;
    if (us < bestUs) [best, bestUs] = [c, us];
  }
  return best;
}

/** Hands out `pool` cores in proportion to 1 / slack, each grant capped at its fastest count. */
function shareLeftovers(grants: Grant[], pool: number): void {
  let open = grants.filter((g) => g.cores < g.fastest);
  while (pool > 0 && open.length > 0) {
    const weights = open.map((g) => 1 / Math.max(1, g.slackMs));
    const total = weights.reduce((a, b) => a + b, 0);
    let given = 0;
    open.forEach((g, k) => {
      const want = Math.max(1, Math.floor((pool * weights[k]) / total));
      const extra = Math.min(want, g.fastest - g.cores, pool - given);
      g.cores += extra;
      given += extra;
    });
    if (given === 0) break;
    pool -= given;
    open = open.filter((g) => g.cores < g.fastest);
  }
}
