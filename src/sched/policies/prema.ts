/**
 * `prema`: PREMA (HPCA 2020), predictive multi-task scheduling adapted to a multi-core CPU.
 * Every waiting query holds tokens that grow with the time it has waited relative to its
 * isolated run time (all models share one priority, as the workloads carry no user
 * priorities). Queries whose tokens reach `tokenThreshold` are the candidates (all queries
 * when none is); candidates run shortest predicted remaining time first. Preemption happens
 * at layer boundaries: a query runs `preemptEvery` layers, then competes again. Each model
 * runs on a fixed core count: the fewest cores on which it alone takes at most `qosShare` of
 * its QoS target. One version: the one fastest alone.
 */
import { coresPerModel, dispatch, soloVersion } from '../common.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec, Query } from '../types.js';

export const prema = {
  name: 'prema',
  summary: 'PREMA on CPUs: token-based priority, shortest job first among candidates, preemption at layers',
  role: 'baseline',
  paramGrid: { qosShare: [0.25, 0.5, 0.7], tokenThreshold: [1, 3], preemptEvery: [1, 8] },
  defaults: { qosShare: 0.5, tokenThreshold: 1, preemptEvery: 1 },
  create(params: PolicyParams, ctx: PolicyContext) {
    const coresOf = coresPerModel(ctx, params.qosShare ?? 0.5);
    const threshold = params.tokenThreshold ?? 1;
    const every = Math.max(1, Math.round(params.preemptEvery ?? 1));
    return {
      name: 'prema',
      decide(view: EngineView): Decision[] {
        const scored = view.waiting.map((q) => {
          const pred = view.profile(q.model);
          const c = coresOf(q);
          const isolatedMs =
            pred.blockUs(0, pred.layerCount, soloVersion(pred, [0, pred.layerCount], c), c, 0) / 1000;
          const remainingMs = pred.predict(q.nextLayer, pred.layerCount, c, 0).latencyUs / 1000;
          const tokens = (view.nowMs - q.arrivalMs) / Math.max(isolatedMs, 1e-6);
          return { q, pred, c, remainingMs, tokens };
        });
        const anyCandidate = scored.some((s) => s.tokens >= threshold);
        const order = scored
          .map((s) => ({ ...s, candidate: !anyCandidate || s.tokens >= threshold }))
          .sort((a, b) => Number(b.candidate) - Number(a.candidate) || a.remainingMs - b.remainingMs);
        const out: Decision[] = [];
        let free = view.freeCores;
        for (const s of order) {
          if (s.c > free) continue;
          out.push(nextBlock(s.q, s.pred.layerCount, every, s.c, s.pred));
          free -= s.c;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;

function nextBlock(
  q: Query,
  layers: number,
  every: number,
  cores: number,
  pred: Parameters<typeof soloVersion>[0],
): Decision {
  const block = [q.nextLayer, Math.min(layers, q.nextLayer + every)] as const;
  return dispatch(q, block, cores, soloVersion(pred, block, cores));
}
