/**
 * `static-partition`: fixed core sets per model, the MPI + CPU-affinity way of co-locating
 * models. Each model's query runs its whole model on a fixed instance size (the fewest cores
 * on which it alone takes at most `qosShare` of its QoS target); each model owns a partition
 * sized in proportion to weight x core-time per query (at least one instance), and its
 * queries run FCFS inside it, never borrowing idle cores of other partitions. The version
 * follows `versionRule` (see `BaselineVersionRule`); with `drop`, a query that cannot finish in
 * time on its instance is dropped instead of holding it (see `DropRule`).
 */
import {
  cannotMeet,
  chooseVersion,
  coresPerModel,
  dispatch,
  dropParam,
  reject,
  versionRuleParam,
} from '../common.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec } from '../types.js';

export const staticPartition = {
  name: 'static-partition',
  summary: 'static partitioning: a fixed core set per model sized by load share, FCFS inside it',
  role: 'baseline',
  paramGrid: { qosShare: [0.15, 0.35, 0.5, 0.7], versionRule: [0, 1, 2], drop: [1, 2] },
  defaults: { qosShare: 0.5, versionRule: 0, drop: 1 },
  create(params: PolicyParams, ctx: PolicyContext) {
    const coresOf = coresPerModel(ctx, params.qosShare ?? 0.5);
    const versionRule = versionRuleParam(params.versionRule);
    const drop = dropParam(params.drop);
    const partitions = partitionCores(ctx, (model) =>
      coresOf({ model, arrivalMs: 0, deadlineMs: ctx.qosTargetMs[model] }),
    );
    return {
      name: 'static-partition',
      decide(view: EngineView): Decision[] {
        const used = new Map<string, number>();
        for (const r of view.running) used.set(r.model, (used.get(r.model) ?? 0) + r.cores);
        const blocked = new Set<string>();
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const q of view.waiting) {
          if (blocked.has(q.model)) continue;
          const c = coresOf(q);
          if (cannotMeet(view, q, drop, c)) {
            out.push(reject(q));
            continue;
          }
          const inUse = used.get(q.model) ?? 0;
          // A model outside the context has no partition: it may use only what others leave.
          const size = partitions.get(q.model) ?? free;
          if (inUse + c > size || c > free) {
            blocked.add(q.model); // FCFS within the partition
            continue;
          }
          const pred = view.profile(q.model);
          const block = [q.nextLayer, pred.layerCount] as const;
          out.push(
            dispatch(q, block, c, chooseVersion(pred, block, c, view.interference, versionRule).version),
          );
          used.set(q.model, inUse + c);
          free -= c;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;

/**
 * Partition sizes: proportional to weight x cores x solo latency per query (its core-time),
 * rounded by largest remainder, each at least one instance where the machine allows.
 */
export function partitionCores(
  ctx: PolicyContext,
  instanceCores: (model: string) => number,
): Map<string, number> {
  const models = Object.keys(ctx.modelWeights).filter((m) => ctx.modelWeights[m] > 0);
  const demand = models.map((m) => {
    const pred = ctx.profile(m);
    const c = instanceCores(m);
    return ctx.modelWeights[m] * c * pred.predict(0, pred.layerCount, c, 0).latencyUs;
  });
  const total = demand.reduce((a, b) => a + b, 0) || 1;
  const exact = demand.map((d) => (ctx.totalCores * d) / total);
  const sizes = exact.map((x, k) =>
    Math.max(Math.floor(x), Math.min(instanceCores(models[k]), ctx.totalCores)),
  );
  let spare = ctx.totalCores - sizes.reduce((a, b) => a + b, 0);
  const byRemainder = models.map((_, k) => k).sort((a, b) => (exact[b] % 1) - (exact[a] % 1));
  for (const k of byRemainder) {
    if (spare <= 0) break;
    sizes[k]++;
    spare--;
  }
  // Minimum instance sizes may overshoot the machine: shrink the partitions with the most
  // room above one instance; where every partition is down to one instance, they overlap.
  const floor = models.map((m) => Math.min(instanceCores(m), ctx.totalCores));
  while (spare < 0) {
    let k = -1;
    for (let i = 0; i < sizes.length; i++) {
      if (sizes[i] > floor[i] && (k < 0 || sizes[i] - floor[i] > sizes[k] - floor[k])) k = i;
    }
    if (k < 0) break;
    sizes[k]--;
    spare++;
  }
  return new Map(models.map((m, k) => [m, sizes[k]]));
}
