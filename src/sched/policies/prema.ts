/**
 * `prema`: PREMA (HPCA 2020), predictive multi-task scheduling, adapted to a multi-core CPU.
 * Every waiting query holds tokens: its priority, plus its priority times the time it has
 * waited (since arrival, less the predicted time of the layers it already ran) over its
 * isolated run time. The threshold is dynamic, as in PREMA: `thresholdShare` of the most
 * tokens any waiting query holds, so it rises when queries queue long and falls when the queue
 * drains. Queries at or above it are the candidates and run shortest predicted remaining time
 * first; the others follow in the same order on whatever cores are left. Preemption happens at
 * layer boundaries: a query runs `preemptEvery` layers, then competes again.
 *
 * Keeps: token accumulation weighted by priority and normalised by isolated time, the dynamic
 * candidate threshold, shortest-estimated-job-first among candidates, preemption at layer
 * boundaries. Drops: user priority levels (the workloads carry none, so every query has
 * priority 1) and PREMA's choice between draining and checkpointing a preempted task (a CPU
 * block ends at a layer boundary with nothing to save). Each model runs on a fixed core count,
 * the fewest cores on which it alone takes at most `qosShare` of its QoS target, as one
 * accelerator runs one task at a time in PREMA. The version follows `versionRule` (see
 * `BaselineVersionRule`); `drop` is the early drop of `DropRule`.
 */
import type { ProfilePredictor } from '../../profile/index.js';
import {
  cannotMeet,
  chooseVersion,
  coresPerModel,
  dispatch,
  dropParam,
  reject,
  versionRuleParam,
  type BaselineVersionRule,
} from '../common.js';
import type { Decision, EngineView, PolicyContext, PolicyParams, PolicySpec, Query } from '../types.js';

/** Every query's priority: the workloads carry no user priorities. */
const PRIORITY = 1;

interface Scored {
  readonly query: Query;
  readonly pred: ProfilePredictor;
  readonly cores: number;
  readonly remainingMs: number;
  readonly tokens: number;
}

export const prema = {
  name: 'prema',
  summary:
    'PREMA on CPUs: tokens for normalised waiting, dynamic candidate threshold, shortest job first, preemption at layers',
  role: 'baseline',
  paramGrid: { preemptEvery: [1, 4, 16], versionRule: [0, 1, 2], drop: [1, 2] },
  defaults: { qosShare: 0.35, thresholdShare: 0.5, preemptEvery: 4, versionRule: 0, drop: 1 },
  create(params: PolicyParams, ctx: PolicyContext) {
    const coresOf = coresPerModel(ctx, params.qosShare ?? 0.35);
    const thresholdShare = params.thresholdShare ?? 0.5;
    const every = Math.max(1, Math.round(params.preemptEvery ?? 4));
    const versionRule = versionRuleParam(params.versionRule);
    const drop = dropParam(params.drop ?? 1);
    return {
      name: 'prema',
      decide(view: EngineView): Decision[] {
        const out: Decision[] = [];
        const scored: Scored[] = [];
        for (const query of view.waiting) {
          const cores = coresOf(query);
          if (cannotMeet(view, query, drop, cores)) out.push(reject(query));
          else scored.push(score(view, query, cores));
        }
        let free = view.freeCores;
        for (const s of candidatesFirst(scored, thresholdShare)) {
          if (s.cores > free) continue;
          out.push(nextBlock(s, every, view.interference, versionRule));
          free -= s.cores;
        }
        return out;
      },
    };
  },
} satisfies PolicySpec;

/** A query's tokens and predicted remaining time on its cores (no interference). */
function score(view: EngineView, query: Query, cores: number): Scored {
  const pred = view.profile(query.model);
  const isolatedMs = pred.predict(0, pred.layerCount, cores, 0).latencyUs / 1000;
  const ranMs = pred.predict(0, query.nextLayer, cores, 0).latencyUs / 1000;
  const remainingMs = pred.predict(query.nextLayer, pred.layerCount, cores, 0).latencyUs / 1000;
  const waitedMs = Math.max(0, view.nowMs - query.arrivalMs - ranMs);
  const tokens = PRIORITY + (PRIORITY * waitedMs) / Math.max(isolatedMs, 1e-6);
  return { query, pred, cores, remainingMs, tokens };
}

/**
 * Candidates (tokens at least `thresholdShare` of the most tokens held) first, then the rest;
 * shortest predicted remaining time first within each.
 */
function candidatesFirst<T extends Pick<Scored, 'tokens' | 'remainingMs'>>(
  scored: readonly T[],
  thresholdShare: number,
): T[] {
  const threshold = thresholdShare * Math.max(0, ...scored.map((s) => s.tokens));
  const candidate = (s: T) => Number(s.tokens >= threshold);
  return [...scored].sort((a, b) => candidate(b) - candidate(a) || a.remainingMs - b.remainingMs);
}

function nextBlock(s: Scored, every: number, level: number, rule: BaselineVersionRule): Decision {
  const block = [s.query.nextLayer, Math.min(s.pred.layerCount, s.query.nextLayer + every)] as const;
  return dispatch(s.query, block, s.cores, chooseVersion(s.pred, block, s.cores, level, rule).version);
}
