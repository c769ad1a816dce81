/**
 * What serves the repository's models behind the API: the live runtime (workers, sessions,
 * measured profiles) and on it either the engine of a scheduling policy or the `naive` baseline.
 * Models come and go while it serves (the repository extension's load and unload): the runtime
 * cuts, opens and measures a model, then the engine is given a policy made for the new set.
 */
import { NAIVE, qosTargets } from '../load/index.js';
import { isolatedLatencyMs } from '../profile/index.js';
import {
  LiveRuntime,
  NaiveService,
  type InferenceService,
  type LiveEngine,
  type LiveModelSpec,
} from '../runtime/index.js';
import { policySpec, type Policy } from '../sched/index.js';

/** The baseline with no engine: every query at once on ORT's defaults. */
export const NAIVE_POLICY = NAIVE;

/**
 * A model without a configured target gets the workloads' rule (a multiple of its latency alone),
 * but never less than this: below it, the HTTP round trip alone would miss.
 */
const MIN_DEFAULT_QOS_MS = 10;

/** A model to serve: what the runtime needs, and the repository's settings for it. */
export interface Tenant {
  readonly spec: LiveModelSpec;
  readonly qosTargetMs?: number;
  /** Share of the load the policy should expect for it (relative to the others'). */
  readonly weight: number;
}

export class Backend {
  private readonly targets: Record<string, number> = {};
  private readonly weights = new Map<string, number>();

  private constructor(
    readonly runtime: LiveRuntime,
    private readonly policy: string,
    /** Set for every policy but `naive`. */
    readonly engine: LiveEngine | undefined,
    private readonly naive: NaiveService | undefined,
  ) {}

  /**
   * Starts the runtime on `tenants` and the service of `policy` on those it could open; the
   * others are in `runtime.report.unavailable` with their reason.
   */
  static async start(
    policy: string,
    cpus: readonly number[],
    tenants: readonly Tenant[],
    onProgress: (message: string) => void,
  ): Promise<Backend> {
    if (policy !== NAIVE_POLICY) policySpec(policy);
    const runtime = await LiveRuntime.start({ models: tenants.map((t) => t.spec), cpus, onProgress });
    try {
      const served = tenants.filter((t) => runtime.models.has(t.spec.name));
      const targets = Object.fromEntries(served.map((t) => [t.spec.name, targetOf(runtime, t)]));
      const weights = Object.fromEntries(served.map((t) => [t.spec.name, t.weight]));
      let backend: Backend;
      if (policy === NAIVE_POLICY) {
        const naive = await NaiveService.start({
          models: served.map((t) => naiveModel(runtime, t.spec)),
          qosTargetMs: targets,
          maxConcurrent: 4 * runtime.pool.cpus.length,
        });
        backend = new Backend(runtime, policy, undefined, naive);
      } else {
        const engine = runtime.engine({
          policy: makePolicy(policy, runtime, weights, targets),
          qosTargetMs: targets,
          keepRecords: false,
        });
        backend = new Backend(runtime, policy, engine, undefined);
      }
      for (const t of served) backend.admitted(t, targets[t.spec.name]);
      return backend;
    } catch (err) {
      await runtime.stop();
      throw err;
    }
  }

  /** What takes the queries. */
  get service(): InferenceService {
    return (this.engine ?? this.naive) as InferenceService;
  }

  /** QoS target per served model (ms). */
  get qosTargetMs(): Readonly<Record<string, number>> {
    return this.targets;
  }

  /** The model's latency alone on the machine, at its best core count (measured). */
  fastestMs(model: string): number {
    return isolatedLatencyMs(this.runtime.model(model).predictor, this.runtime.pool.cpus.length);
  }

  /** Serves one more model; throws the reason when it cannot be opened. */
  async add(tenant: Tenant): Promise<void> {
    const name = tenant.spec.name;
    await this.runtime.addModel(tenant.spec);
    const target = targetOf(this.runtime, tenant);
    try {
      if (this.naive) await this.naive.addModel(naiveModel(this.runtime, tenant.spec), target);
    } catch (err) {
      await this.runtime.removeModel(name);
      throw err;
    }
    this.admitted(tenant, target);
    this.reschedule();
  }

  /** Stops serving `name`; none of its queries may be inside. */
  async remove(name: string): Promise<void> {
    delete this.targets[name];
    this.weights.delete(name);
    this.reschedule();
    await this.naive?.removeModel(name);
    await this.runtime.removeModel(name);
  }

  async close(): Promise<void> {
    await this.service.close();
    await this.runtime.stop();
  }

  private admitted(tenant: Tenant, targetMs: number): void {
    this.targets[tenant.spec.name] = targetMs;
    this.weights.set(tenant.spec.name, tenant.weight);
  }

  /** Gives the engine a policy made for the models served now. */
  private reschedule(): void {
    if (!this.engine) return;
    const weights = Object.fromEntries(this.weights);
    this.engine.setTenants(makePolicy(this.policy, this.runtime, weights, this.targets), { ...this.targets });
  }
}

function targetOf(runtime: LiveRuntime, tenant: Tenant): number {
  if (tenant.qosTargetMs !== undefined) return tenant.qosTargetMs;
  const name = tenant.spec.name;
  const basis = new Map([[name, runtime.qosBasis(tenant.spec)]]);
  const rule = qosTargets([name], basis, runtime.pool.cpus.length, false)[name];
  return Math.max(MIN_DEFAULT_QOS_MS, rule.targetMs);
}

function naiveModel(runtime: LiveRuntime, spec: LiveModelSpec) {
  const m = runtime.model(spec.name);
  return { name: spec.name, path: spec.path, inputs: m.inputs, outputs: m.outputNames };
}

/** `policy` with its default parameters, for the served models and their load shares. */
function makePolicy(
  policy: string,
  runtime: LiveRuntime,
  weights: Readonly<Record<string, number>>,
  qosTargetMs: Readonly<Record<string, number>>,
): Policy {
  const spec = policySpec(policy);
  const names = Object.keys(qosTargetMs);
  const total = names.reduce((sum, m) => sum + (weights[m] ?? 1), 0);
  return spec.create(spec.defaults, {
    totalCores: runtime.pool.cpus.length,
    modelWeights: Object.fromEntries(names.map((m) => [m, (weights[m] ?? 1) / total])),
    qosTargetMs,
    profile: (model) => runtime.model(model).predictor,
  });
}
