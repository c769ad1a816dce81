/**
 * `layer-wise`: re-allocate cores at every layer, the fine-grained extreme VELTAIR compares
 * against. Every block is one layer, and the query's cores are re-planned from its remaining
 * slack at every layer boundary.
 *
 * Keeps what defines layer-wise scheduling: one layer per dispatch, so a query competes for
 * cores again after every layer, with the scheduling points and conflicts that brings. Drops
 * the naive planner: each layer is planned by veltair's planner at 1-layer blocks (least slack
 * first, the least core-time split of the budget, a reservation for the most urgent blocked
 * query, a layer run on the free cores when that ends no later than waiting), so the
 * comparison turns on block granularity and version choice alone, never on a weaker planner.
 * Unlike veltair it never coarsens blocks with load or conflicts. The version follows
 * `versionRule` (see `BaselineVersionRule`; `by-level` is veltair's choice, counting the
 * pressure a version puts on busy cores); `drop` is veltair's early drop.
 */
import { chooseVersion, versionRuleParam, type BaselineVersionRule } from '../common.js';
import type { Decision, EngineView, Policy, PolicyContext, PolicyParams, PolicySpec } from '../types.js';
import { PLANNER_BUDGET_FACTORS, createVeltair, veltairConfig } from './veltair.js';

export const layerWise = {
  name: 'layer-wise',
  summary: 'layer-wise scheduling: every layer planned and dispatched alone, cores re-decided at each',
  role: 'baseline',
  paramGrid: { budgetFactor: PLANNER_BUDGET_FACTORS, versionRule: [0, 1, 2], drop: [2, 3] },
  defaults: { budgetFactor: 0.5, versionRule: 2, drop: 2 },
  create(params: PolicyParams, ctx: PolicyContext): Policy {
    const rule = versionRuleParam(params.versionRule);
    const planner = createVeltair(
      veltairConfig('layer-wise', params, ctx, {
        threshold: Infinity,
        conflictSensitivity: 0,
        loadSensitivity: 0,
        maxLayers: 1,
        maxBlockUs: Infinity,
        versionRule: rule === 'by-level' ? 'adaptive' : 'solo-fastest',
      }),
    );
    return {
      name: 'layer-wise',
      decide: (view) => withVersions(planner.decide(view), view, rule),
    };
  },
} satisfies PolicySpec;

/**
 * The planner chooses versions fastest alone or by level; `gentlest` re-picks each layer's on
 * the cores the planner gave it (at most `GENTLE_SLOWDOWN` slower alone, so the plan still holds
 * within that margin).
 */
function withVersions(decisions: Decision[], view: EngineView, rule: BaselineVersionRule): Decision[] {
  if (rule !== 'gentlest') return decisions;
  const models = new Map(view.waiting.map((q) => [q.id, q.model]));
  return decisions.map((d) => {
    if (d.kind !== 'dispatch') return d;
    const model = models.get(d.query);
    if (model === undefined) return d;
    const { version } = chooseVersion(view.profile(model), d.block, d.cores, view.interference, rule);
    return { ...d, version };
  });
}
