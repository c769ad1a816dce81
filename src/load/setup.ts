/**
 * From a profile source and workload names to the scenarios a simulated evaluation runs.
 */
import { ProfilePredictor } from '../profile/index.js';
import type { ProfileSource } from '../sim/index.js';
import type { Scenario } from './evaluate.js';
import { WORKLOADS, qosTargets, resolveMix, type QosTarget, type WorkloadName } from './workloads.js';

export interface ScenarioOptions {
  totalCores: number;
  queries: number;
  seed: number;
  dispatchOverheadUs?: number;
}

export interface PreparedScenario {
  scenario: Scenario;
  qos: Record<string, QosTarget>;
  /** Mix models without a profile in the source (their share went to the others). */
  dropped: string[];
}

export function prepareScenarios(
  source: ProfileSource,
  workloads: readonly WorkloadName[],
  opts: ScenarioOptions,
): PreparedScenario[] {
  const predictors = new Map(source.profiles.map((p) => [p.model, new ProfilePredictor(p)]));
  return workloads.map((name) => {
    const { weights, dropped } = resolveMix(WORKLOADS[name], new Set(predictors.keys()));
    const models = Object.keys(weights);
    const qos = qosTargets(models, predictors, opts.totalCores, source.calibrated64);
    return {
      scenario: {
        workload: name,
        totalCores: opts.totalCores,
        predictors: new Map(models.map((m) => [m, predictors.get(m) as ProfilePredictor])),
        weights,
        qosTargetMs: Object.fromEntries(models.map((m) => [m, qos[m].targetMs])),
        queries: opts.queries,
        seed: opts.seed,
        dispatchOverheadUs: opts.dispatchOverheadUs,
      },
      qos,
      dropped,
    };
  });
}
