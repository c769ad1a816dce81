/**
 * What serves the repository's models behind the API: the live runtime (workers, sessions,
 * measured profiles) and on it either the engine of a scheduling policy or the `naive` baseline.
 * Models come and go while it serves (the repository extension's load and unload): the runtime
 * cuts, opens and measures a model, then the engine is given a policy made for the new set.
 *
 * The policy's parameters are chosen for the models served, as `veltair bench --live` chooses
 * them (src/load/tuning.ts), unless the user fixed them: before the server listens, and again on
 * a worker thread after each load or unload, the engine keeping the parameters it had meanwhile.
 *
 * As the bench does (decision 0017), the server plans its units at what its blocks cost in
 * operation rather than as measured at start, from its own traffic: every `operatingBlocks`
 * blocks it reads the last ones' cost, and where a CPU count's factor moved by more than
 * `REPLAN_TOLERANCE` from the one it plans with, it plans with the new one.
 */
import { leastServiceMs } from '../engine/index.js';
import {
  MAX_STOLEN_SHARE,
  NAIVE,
  TUNING_BUDGET_MS,
  TUNING_QUERIES,
  TUNING_SEEDS,
  liveMachine,
  qosTargets,
  tuneInWorker,
  type LiveTuningJob,
  type TuningRun,
} from '../load/index.js';
import {
  LiveRuntime,
  NaiveService,
  RECENT_BLOCKS,
  costMoved,
  cpuTicks,
  describeScale,
  stolenShare,
  updatedCost,
  type CpuTicks,
  type InferenceService,
  type LiveEngine,
  type LiveModelSpec,
  type OperatingCost,
} from '../runtime/index.js';
import { formatParams, policySpec, type Policy, type PolicyParams } from '../sched/index.js';
import { VeltairError } from '../errors/index.js';

/** The baseline with no engine: every query at once on ORT's defaults. */
export const NAIVE_POLICY = NAIVE;

/**
 * A model without a configured target gets the workloads' rule (a multiple of its latency alone),
 * but never less than this: below it, the HTTP round trip alone would miss.
 */
const MIN_DEFAULT_QOS_MS = 10;

/** How the policy gets its parameters: chosen for the served models, or as the user fixed them. */
export type ParamsChoice = 'tuned' | PolicyParams;

/**
 * Blocks between two looks at what blocks cost in operation: on the light mix at 25 QPS, about
 * 15 s of serving, and enough that every CPU count the policy uses much has its 50.
 */
export const OPERATING_BLOCKS = 2000;

/** How often the backend looks whether its engine has run `operatingBlocks` more blocks. */
const OPERATING_LOOK_MS = 1000;

export interface BackendOptions {
  /** A registered policy, or `naive`. */
  readonly policy: string;
  readonly params: ParamsChoice;
  readonly cpus: readonly number[];
  readonly tenants: readonly Tenant[];
  /**
   * Blocks between looks at what they cost in operation (at most `RECENT_BLOCKS`; default
   * `OPERATING_BLOCKS`; 0: plan with the units as measured at start).
   */
  readonly operatingBlocks?: number;
  readonly onProgress: (message: string) => void;
}

/** A model to serve: what the runtime needs, and the repository's settings for it. */
export interface Tenant {
  readonly spec: LiveModelSpec;
  readonly qosTargetMs?: number;
  /** Share of the load the policy should expect for it (relative to the others'). */
  readonly weight: number;
}

export class Backend {
  private readonly targets: Record<string, number> = {};
  /** Served models, with their settings. */
  private readonly tenants = new Map<string, Tenant>();
  /** The parameters the engine's policy runs with now (empty for `naive`). */
  private current: PolicyParams = {};
  /** Choosing parameters for the models served now, on a worker thread. */
  private tuning: TuningRun | undefined;
  /** Set for every policy but `naive`. */
  private policyEngine: LiveEngine | undefined;
  private naive: NaiveService | undefined;
  /** What blocks cost in operation, as the runtime plans with it (null: as measured at start). */
  private operating: OperatingCost | null = null;
  /** The engine's `blocksDone` when the backend last read what blocks cost, and the CPUs' ticks then. */
  private blocksAtLastLook = 0;
  private ticksAtLastLook: CpuTicks | undefined;
  /** The server's own work running beside the blocks (choosing parameters, loading a model). */
  private ownWorkRunning = 0;
  /** Whether some of it ran since the last look. */
  private ownWorkSinceLook = false;
  private operatingLook: NodeJS.Timeout | undefined;

  private constructor(
    readonly runtime: LiveRuntime,
    private readonly policy: string,
    private readonly choice: ParamsChoice,
    private readonly operatingBlocks: number,
    private readonly onProgress: (message: string) => void,
  ) {}

  /**
   * Starts the runtime on `opts.tenants` and the service of `opts.policy` on those it could open;
   * the others are in `runtime.report.unavailable` with their reason.
   */
  static async start(opts: BackendOptions): Promise<Backend> {
    const { policy, cpus, tenants, onProgress } = opts;
    const operatingBlocks = opts.operatingBlocks ?? OPERATING_BLOCKS;
    if (policy !== NAIVE_POLICY) policySpec(policy);
    if (!Number.isInteger(operatingBlocks) || operatingBlocks < 0 || operatingBlocks > RECENT_BLOCKS)
      throw new VeltairError(
        'invalid_argument',
        `operating blocks must be a whole number from 0 to ${RECENT_BLOCKS}, not ${operatingBlocks}`,
      );
    const runtime = await LiveRuntime.start({ models: tenants.map((t) => t.spec), cpus, onProgress });
    const backend = new Backend(runtime, policy, opts.params, operatingBlocks, onProgress);
    try {
      for (const t of tenants) if (runtime.models.has(t.spec.name)) backend.admitted(t, targetOf(runtime, t));
      await backend.startService();
      return backend;
    } catch (err) {
      backend.stopTuning();
      await runtime.stop();
      throw err;
    }
  }

  private async startService(): Promise<void> {
    if (this.policy === NAIVE_POLICY) {
      this.naive = await NaiveService.start({
        models: [...this.tenants.values()].map((t) => naiveModel(this.runtime, t.spec)),
        qosTargetMs: { ...this.targets },
        maxConcurrent: 4 * this.runtime.pool.cpus.length,
      });
      return;
    }
    this.current = this.choice === 'tuned' ? await this.firstChoice() : this.choice;
    this.policyEngine = this.runtime.engine({
      policy: this.policyNow(),
      qosTargetMs: { ...this.targets },
      keepRecords: false,
    });
    if (this.operatingBlocks > 0) {
      this.ticksAtLastLook = cpuTicks(this.runtime.pool.cpus);
      this.ownWorkSinceLook = this.ownWorkRunning > 0;
      this.operatingLook = setInterval(() => this.lookAtOperatingCost(), OPERATING_LOOK_MS);
      this.operatingLook.unref();
    }
  }

  /** What blocks cost in operation, as the runtime plans with it now (null: as measured at start). */
  get operatingCost(): OperatingCost | null {
    return this.operating;
  }

  /**
   * Once the engine has run `operatingBlocks` more blocks: their cost in operation, a CPU count
   * with too few of them keeping the factor it had. Where a factor moved beyond
   * `REPLAN_TOLERANCE` from the one in use (1 for none), or on the first look, the runtime plans
   * with the new cost and the policy is made for it, with the parameters it has: choosing them
   * again runs a search of tens of seconds beside the blocks, which cost more satisfaction than
   * the new plan gave back (docs/experiments/2026-12-07-server-units-in-operation.md). Blocks
   * that ran while the host took more than `MAX_STOLEN_SHARE` of the CPUs measured the host's
   * other tenants (decision 0016), and blocks that ran beside the server's own work measured
   * that work: either way not the machine, and they are passed over.
   */
  private lookAtOperatingCost(): void {
    const engine = this.policyEngine;
    if (!engine || engine.blocksDone - this.blocksAtLastLook < this.operatingBlocks) return;
    this.blocksAtLastLook = engine.blocksDone;
    const ticks = cpuTicks(this.runtime.pool.cpus);
    const stolen = ticks && this.ticksAtLastLook ? stolenShare(this.ticksAtLastLook, ticks) : 0;
    this.ticksAtLastLook = ticks;
    const beside = this.ownWorkSinceLook;
    this.ownWorkSinceLook = this.ownWorkRunning > 0;
    const disturbed = beside
      ? 'the server was choosing parameters or loading a model'
      : stolen > MAX_STOLEN_SHARE
        ? `the host took ${(100 * stolen).toFixed(1)} % of the CPUs`
        : undefined;
    if (disturbed) {
      this.onProgress(`passing over the last ${this.operatingBlocks} blocks' cost: ${disturbed} meanwhile`);
      return;
    }
    const read = this.runtime.operatingCostOf(engine.stats().blocks.slice(-this.operatingBlocks));
    const cost = updatedCost(this.operating, read);
    if (cost.scale.size === 0 || (this.operating && !costMoved(this.operating, cost))) return;
    this.operating = cost;
    this.runtime.useOperatingCost(cost);
    this.onProgress(
      `planning units at what the last ${this.operatingBlocks} blocks cost: ${describeScale(cost.scale)}`,
    );
    engine.setTenants(this.policyNow(), { ...this.targets });
  }

  /** Parameters chosen for the models served at start; the policy's defaults if that fails. */
  private async firstChoice(): Promise<PolicyParams> {
    try {
      return (await this.tuneInBackground(this.runtime.pool.cpus.length).result).params;
    } catch (err) {
      this.onProgress(
        `${this.policy}: its defaults, as choosing parameters failed: ${(err as Error).message}`,
      );
      return policySpec(this.policy).defaults;
    }
  }

  /** The engine of the policy (none for `naive`). */
  get engine(): LiveEngine | undefined {
    return this.policyEngine;
  }

  /** What takes the queries. */
  get service(): InferenceService {
    const service = this.policyEngine ?? this.naive;
    if (!service) throw new Error('the backend has not started');
    return service;
  }

  /** The policy's parameters now, as `k=v k=v` (empty for `naive`). */
  get policyParams(): string {
    return formatParams(this.current);
  }

  /** QoS target per served model (ms). */
  get qosTargetMs(): Readonly<Record<string, number>> {
    return this.targets;
  }

  /** The least time a query of the model needs: alone on the machine, at its best core count, and one dispatch (measured). */
  fastestMs(model: string): number {
    const { predictor } = this.runtime.model(model);
    return leastServiceMs(predictor, this.runtime.pool.cpus.length, this.runtime.dispatchOverheadUs);
  }

  /** Serves one more model; throws the reason when it cannot be opened. */
  async add(tenant: Tenant): Promise<void> {
    const name = tenant.spec.name;
    await this.besideBlocks(this.runtime.addModel(tenant.spec));
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
    this.tenants.delete(name);
    this.reschedule();
    await this.naive?.removeModel(name);
    await this.runtime.removeModel(name);
  }

  async close(): Promise<void> {
    clearInterval(this.operatingLook);
    this.stopTuning();
    await this.service.close();
    await this.runtime.stop();
  }

  private admitted(tenant: Tenant, targetMs: number): void {
    this.targets[tenant.spec.name] = targetMs;
    this.tenants.set(tenant.spec.name, tenant);
  }

  /** The policy for the models served now, with the parameters it has now. */
  private policyNow(): Policy {
    return policySpec(this.policy).create(this.current, {
      totalCores: this.runtime.pool.cpus.length,
      modelWeights: shares(this.tenants, Object.keys(this.targets)),
      qosTargetMs: { ...this.targets },
      profile: (model) => this.runtime.model(model).predictor,
    });
  }

  /**
   * Gives the engine a policy made for the models served now, with the parameters it has; when
   * parameters are chosen for the models, chooses them again for the new set meanwhile.
   */
  private reschedule(): void {
    const engine = this.policyEngine;
    if (!engine) return;
    engine.setTenants(this.policyNow(), { ...this.targets });
    if (this.choice !== 'tuned' || Object.keys(this.targets).length === 0) return;
    const run = this.tuneInBackground(1);
    run.result.then(
      ({ params }) => {
        if (this.tuning !== run) return;
        this.current = params;
        engine.setTenants(this.policyNow(), { ...this.targets });
      },
      (err: Error) => {
        if (this.tuning === run) this.onProgress(`keeping ${this.policy}'s parameters: ${err.message}`);
      },
    );
  }

  /** `work`, counted as the server's own while it runs beside the blocks. */
  private async besideBlocks<T>(work: Promise<T>): Promise<T> {
    this.ownWorkRunning++;
    this.ownWorkSinceLook = true;
    try {
      return await work;
    } finally {
      this.ownWorkRunning--;
    }
  }

  private stopTuning(): void {
    const run = this.tuning;
    this.tuning = undefined;
    run?.cancel();
  }

  /**
   * Chooses the policy's parameters for the models served now on `threads` worker threads
   * (ending any earlier run): every CPU before the server listens, one beside a serving engine.
   */
  private tuneInBackground(threads: number): TuningRun {
    this.stopTuning();
    const startedMs = Date.now();
    const names = Object.keys(this.targets);
    const job: LiveTuningJob = {
      policy: this.policy,
      machine: liveMachine(this.runtime),
      mix: {
        workload: 'served',
        weights: shares(this.tenants, names),
        qosTargetMs: { ...this.targets },
        queries: TUNING_QUERIES,
      },
      profiles: names.map((m) => this.runtime.model(m).profile),
      seeds: TUNING_SEEDS,
      budgetMs: TUNING_BUDGET_MS,
      threads,
    };
    this.onProgress(`choosing ${this.policy}'s parameters for ${names.join(', ')} on the simulator`);
    const run = tuneInWorker(job);
    this.tuning = run;
    this.besideBlocks(run.result).catch(() => {});
    run.result.then(
      (t) => {
        const s = ((Date.now() - startedMs) / 1000).toFixed(1);
        const cut =
          t.searchedPoints < t.gridPoints
            ? `, out of time after ${t.searchedPoints} of ${t.gridPoints} grid points`
            : '';
        this.onProgress(`${this.policy}: ${formatParams(t.params)} (chosen in ${s} s${cut})`);
      },
      () => {},
    );
    return run;
  }
}

/** Each served model's share of the load, from the tenants' weights. */
function shares(tenants: ReadonlyMap<string, Tenant>, names: readonly string[]): Record<string, number> {
  const weightOf = (m: string) => tenants.get(m)?.weight ?? 1;
  const total = names.reduce((sum, m) => sum + weightOf(m), 0);
  return Object.fromEntries(names.map((m) => [m, weightOf(m) / total]));
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
