/**
 * `layer-wise`: re-allocate cores at every layer (the fine-grained extreme VELTAIR compares
 * against). Each waiting query, earliest deadline first, dispatches only its next layer, on the
 * fewest cores that fit that layer's share of the query's remaining budget (shares in
 * proportion to work; `budgetShare` of the slack is planned, the rest is margin). When fewer
 * cores are free than the layer wants, it waits (a scheduling conflict), or with `takeFree`
 * runs on what is free. One version: the one fastest alone. `split: 1` gives it veltair's
 * core-time split instead of the work-proportional one, so the comparison never turns on it.
 */
import { dispatch, earliestDeadlineFirst } from '../common.js';
import { layerTable, planBlock, versionFor, type BlockPlanOptions } from '../plan.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec } from '../types.js';

export const layerWise = {
  name: 'layer-wise',
  summary:
    'layer-wise scheduling: every layer dispatched alone on the fewest cores that fit its budget share',
  role: 'baseline',
  paramGrid: { budgetShare: [0.5, 0.7, 0.85], takeFree: [0, 1], split: [0, 1] },
  defaults: { budgetShare: 0.85, takeFree: 1, drop: 1, split: 0 },
  create(params: PolicyParams, _ctx: PolicyContext) {
    const share = params.budgetShare ?? 0.85;
    const takeFree = (params.takeFree ?? 1) !== 0;
    const drop = (params.drop ?? 1) !== 0;
    const splitRule = (params.split ?? 0) === 1 ? 'efficient' : 'work';
    return {
      name: 'layer-wise',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        let free = view.freeCores;
        const o: BlockPlanOptions = {
          level: view.interference,
          threshold: 0,
          maxLayers: 1,
          coreLimit: view.totalCores,
          versionRule: 'solo-fastest',
          splitRule,
          maxBlockUs: Infinity,
        };
        for (const q of earliestDeadlineFirst(view)) {
          const pred = view.profile(q.model);
          const leastUs = layerTable(pred, 0, 'solo-fastest').minRemainingUs[q.nextLayer];
          if (drop && view.nowMs + leastUs / 1000 > q.deadlineMs) {
            out.push({ kind: 'reject', query: q.id, reason: 'deadline_unreachable' });
            continue;
          }
          if (free === 0) continue;
          const budgetUs = Math.max(0, (q.deadlineMs - view.nowMs) * 1000 * share);
          const plan = planBlock(pred, q.nextLayer, budgetUs, o);
          if (plan.cores <= free) {
            out.push(dispatch(q, plan.block, plan.cores, plan.version));
            free -= plan.cores;
          } else if (takeFree) {
            out.push(
              dispatch(q, plan.block, free, versionFor(pred, plan.block, free, o).version, plan.cores),
            );
            free = 0;
          }
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;
