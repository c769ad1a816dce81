/**
 * The live engine: the engine core (src/engine) on the wall clock, executing blocks with ONNX
 * Runtime on a pool of pinned worker threads. Policies are the simulator's, unchanged.
 *
 * - `LiveRuntime` is what is expensive and lasts: the workers, the served models and their
 *   sessions (opened once for every unit, version and CPU window the ledger hands out).
 * - `LiveEngine` is one engine on a runtime: a policy, its queries and their accounting. A
 *   benchmark makes one per run; a server keeps one.
 */
import { performance } from 'node:perf_hooks';
import type * as ort from 'onnxruntime-node';
import { ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import {
  EngineCore,
  WallClock,
  type BlockStart,
  type EngineStats,
  type Executor,
  type LedgerEvent,
  type QueryEnd,
} from '../engine/index.js';
import type { Policy } from '../sched/index.js';
import { processCpus, setThisThreadNice, threadCpuMs, type YieldedPriority } from './affinity.js';
import {
  DEFAULT_MEASURE_OPTIONS,
  OPEN_GATE,
  measureChainOverhead,
  onCpus,
  type CpuGate,
  measureUnits,
  type MeasureOptions,
} from './calibrate.js';
import { cpuWindows } from './windows.js';
import { WorkerPool, type ChainResult } from './pool.js';
import type { PinnedValues, ShapeOverrides } from '../partition/index.js';
import { DEFAULT_SEGMENT_OPTIONS, type SegmentOptions } from './segments.js';
import { ServedModel, type ModelInput } from './served.js';
import type { InferenceService, InferOutcome, QueryTiming } from './service.js';
import { fromWire, toWire, freeWire, type WireTensor } from './wire.js';
import { HeapKeeper } from './heap-keeper.js';
import { operatingCost, operatingReport, type OperatingCost, type OperatingReport } from './operating.js';
import { VeltairError } from '../errors/index.js';

/** A model to serve: its file and the profile compiled for it on this machine. */
export interface LiveModelSpec {
  readonly name: string;
  readonly path: string;
  readonly profile: ModelProfileData;
  /**
   * Serve the model whole, never cut into segments: its profile was estimated, not compiled,
   * so it cannot say where a cut is cheap (`estimatedProfile`).
   */
  readonly whole?: boolean;
  /** Shapes of inputs with symbolic dims, pinned: the model is served at these shapes only. */
  readonly shapes?: ShapeOverrides;
  /** Inputs fixed to these values: the `If`s they decide are served as the branches they take. */
  readonly pins?: PinnedValues;
}

export interface LiveRuntimeOptions {
  readonly models: readonly LiveModelSpec[];
  /** CPUs to run blocks on (default: the process's affinity mask). */
  readonly cpus?: readonly number[];
  /** Pin each worker to its CPU and each session's pool threads to the block's other CPUs (default true). */
  readonly pin?: boolean;
  readonly segments?: SegmentOptions;
  /** Report the CPU each block ended on (tests check the ledger against it). */
  readonly reportCpu?: boolean;
  /** How the units are measured once their sessions are open. */
  readonly measure?: MeasureOptions;
  readonly onProgress?: (message: string) => void;
}

/** What the runtime holds. */
export interface RuntimeReport {
  readonly cpus: readonly number[];
  readonly pinned: boolean;
  readonly models: readonly {
    name: string;
    segments: number;
    units: number;
    unitBytes: number;
    /** How much the cut estimates were scaled after measuring a plan (see SegmentOptions). */
    junctionScale: number;
    /** Per version and core count: the chain of all segments over the whole-model session (measured). */
    chainOverWhole: Record<string, Record<string, number>>;
  }[];
  /** Models that could not be cut or opened, and why: the others are served. */
  readonly unavailable: readonly { name: string; reason: string }[];
  /** Sessions held over all workers. */
  readonly sessions: number;
  /**
   * A block's round trip beyond its sessions' runs (us, median of the measuring runs): the
   * message to its worker, the worker waking, the results coming back. The engine expects it
   * on every dispatch.
   */
  readonly dispatchOverheadUs: number;
  /** How much a unit's runs vary (log-space standard deviation, the widest of the models). */
  readonly latencySpread: number;
  /**
   * What blocks took in operation, where the units are planned with it
   * (`LiveRuntime.useOperatingCost`; null: as measured at start): by CPU count, the factor the
   * measured units are planned at, and the spread the simulated machine draws instead of
   * `latencySpread`.
   */
  readonly operating: OperatingReport | null;
  readonly openMs: number;
  /**
   * The engine thread's nice value (null: the OS refused to raise it, and it runs at the
   * process's) and where the block workers stand below it (decision 0011).
   */
  readonly threadPriority: { readonly engineNice: number | null; readonly workers: YieldedPriority };
  /** Resident memory of the process when the report was made (bytes). */
  readonly rssBytes: number;
}

/**
 * The engine's thread raises itself to this nice value where the OS allows: above the load
 * generator beside it, the HTTP layer's peers and other ordinary threads (decision 0011).
 */
const ENGINE_NICE = -10;

const WORKER_PRIORITY_TEXT: Record<YieldedPriority, string> = {
  idle: 'block workers below every ordinary thread (SCHED_IDLE)',
  nice: 'block workers at nice 5 (SCHED_IDLE refused)',
  unchanged: "block workers at the engine's priority (the OS refused to lower it)",
};

function threadPriorityText(engineNice: number | null, workers: YieldedPriority): string {
  const engine =
    engineNice === null
      ? "the engine's thread at the process's priority (raising it needs CAP_SYS_NICE)"
      : `the engine's thread at nice ${engineNice}`;
  return `${engine}, ${WORKER_PRIORITY_TEXT[workers]}`;
}

/**
 * The shortest served model's latency on one core (us, its compiled profile's estimate): no
 * segment runs longer, so a query of the shortest model never waits behind more than one such
 * query's worth of another model's work.
 */
function shortestModelUs(models: readonly LiveModelSpec[]): number {
  let shortest = Infinity;
  for (const m of models.filter((x) => !x.whole)) {
    const p = new ProfilePredictor(m.profile);
    shortest = Math.min(shortest, p.predict(0, p.layerCount, 1, 0).latencyUs);
  }
  return shortest;
}

/** Re-plans of a model's segments at most, when its measured chains cost more than planned. */
const REPLANS = 2;

/**
 * Cuts a model into segments whose chain costs about what the plan allows over one session:
 * plans with the compiled profile's estimate of each cut, measures the chain against the whole
 * model (one core, the version fastest alone), and plans again with the estimates scaled by
 * what was measured, while the chain costs more than 1.5x the allowed share.
 */
async function planModel(
  pool: WorkerPool,
  spec: LiveModelSpec,
  cpu: number,
  opts: SegmentOptions,
  gate: CpuGate,
): Promise<ServedModel> {
  let model = await ServedModel.load(spec, opts);
  for (let k = 0; k < REPLANS; k++) {
    const version = model.predictor.predict(0, model.segmentCount, 1, 0).version;
    const measured = await measureChainOverhead(pool, model, cpu, version, 3, gate);
    const allowed = 1.5 * opts.junctionShare;
    if (measured <= allowed || model.segmentCount <= 1 || model.plan.estimatedOverhead <= 0) break;
    const junctionScale = (model.plan.junctionScale ?? 1) * (measured / model.plan.estimatedOverhead);
    model = await ServedModel.load(spec, { ...opts, junctionScale });
  }
  return model;
}

type ModelReport = RuntimeReport['models'][number];

export class LiveRuntime {
  private active: LiveEngine | undefined;
  /** Session sets (model, CPU window) asked of a worker, by `${model}/${cpus}`. */
  private readonly opened = new Set<string>();
  private readonly served = new Map<string, ServedModel>();
  private readonly modelReports = new Map<string, ModelReport>();
  private readonly unavailable: { name: string; reason: string }[] = [];
  /** Sessions each worker holds, by CPU. */
  private readonly held = new Map<number, number>();
  private readonly spreads = new Map<string, number>();
  private measuredDispatchUs = LIVE_DISPATCH_OVERHEAD_US;
  private operating: OperatingCost | null = null;
  private openMs = 0;
  private engineNice: number | null = null;
  private readonly heapKeeper = new HeapKeeper();

  private constructor(
    readonly pool: WorkerPool,
    private readonly segments: SegmentOptions,
    private readonly measureOptions: MeasureOptions,
    private readonly progress: (message: string) => void,
  ) {}

  /** Starts the workers, cuts the models into segments and opens their sessions. */
  static async start(opts: LiveRuntimeOptions): Promise<LiveRuntime> {
    const t0 = performance.now();
    const cpus = opts.cpus ?? processCpus();
    const engineNice = setThisThreadNice(ENGINE_NICE) ? ENGINE_NICE : null;
    const pool = await WorkerPool.start(cpus, {
      pin: opts.pin ?? true,
      reportCpu: opts.reportCpu,
      yieldToEngine: true,
    });
    opts.onProgress?.(threadPriorityText(engineNice, pool.priority));
    const segments = {
      maxSegmentUs: shortestModelUs(opts.models),
      ...(opts.segments ?? DEFAULT_SEGMENT_OPTIONS),
    };
    const runtime = new LiveRuntime(
      pool,
      segments,
      opts.measure ?? DEFAULT_MEASURE_OPTIONS,
      opts.onProgress ?? (() => {}),
    );
    try {
      const admitted = await runtime.admit(opts.models);
      runtime.unavailable.push(...admitted.unavailable);
      runtime.measuredDispatchUs = admitted.dispatchOverheadUs;
    } catch (err) {
      await pool.stop();
      throw err;
    }
    runtime.openMs = performance.now() - t0;
    runtime.engineNice = engineNice;
    runtime.heapKeeper.start();
    return runtime;
  }

  /** What handing a block to a worker costs on this machine, measured when models were admitted (us). */
  get dispatchOverheadUs(): number {
    return this.measuredDispatchUs;
  }

  /** What the runtime holds now. */
  get report(): RuntimeReport {
    return {
      cpus: this.pool.cpus,
      pinned: this.pool.pinned,
      models: [...this.modelReports.values()],
      unavailable: this.unavailable,
      sessions: [...this.held.values()].reduce((a, b) => a + b, 0),
      dispatchOverheadUs: this.measuredDispatchUs,
      latencySpread: Math.max(0, ...this.spreads.values()),
      operating: operatingReport(this.operating),
      openMs: this.openMs,
      threadPriority: { engineNice: this.engineNice, workers: this.pool.priority },
      rssBytes: process.memoryUsage().rss,
    };
  }

  /** The models served, by name. */
  get models(): ReadonlyMap<string, ServedModel> {
    return this.served;
  }

  /**
   * Serves one more model (a server loading it): cut into segments, its sessions opened on every
   * worker and its units measured, each step on CPUs the running engine first takes from its
   * policy (`gate`), so that no block waits unseen behind it. The engine schedules the model
   * once told (`LiveEngine.setTenants`). Throws the reason it cannot be served.
   */
  async addModel(spec: LiveModelSpec): Promise<ServedModel> {
    if (this.served.has(spec.name))
      throw new VeltairError('invalid_argument', `model '${spec.name}' is already served`);
    const admitted = await this.admit([spec]);
    const [failed] = admitted.unavailable;
    if (failed) throw new VeltairError('model_invalid', failed.reason);
    return this.model(spec.name);
  }

  /**
   * Stops serving `name` and releases its sessions on every worker. The engine must have stopped
   * scheduling it first (`LiveEngine.setTenants` without it).
   */
  async removeModel(name: string): Promise<void> {
    const model = this.model(name);
    this.served.delete(name);
    this.modelReports.delete(name);
    this.spreads.delete(name);
    for (const key of [...this.opened]) if (key.startsWith(`${name}/`)) this.opened.delete(key);
    for (const [cpu, sessions] of await this.pool.close(model.keyPrefix)) this.held.set(cpu, sessions);
  }

  /**
   * Waits until `cpus` are the runtime's alone: taken from the running engine's policy, if one
   * runs, until the release is called.
   */
  private readonly gate: CpuGate = (cpus) =>
    this.active && !this.active.closed ? this.active.hold(cpus) : OPEN_GATE(cpus);

  /** Cuts, opens and measures `specs`; what cannot be served is listed with its reason. */
  private async admit(specs: readonly LiveModelSpec[]) {
    const cpus = this.pool.cpus;
    const unavailable: { name: string; reason: string }[] = [];
    const models: ServedModel[] = [];
    for (const spec of specs) {
      this.progress(`${spec.name}: cutting into segments`);
      const plan = spec.whole ? { ...this.segments, whole: true } : this.segments;
      try {
        models.push(await planModel(this.pool, spec, cpus[0], plan, this.gate));
      } catch (err) {
        unavailable.push({ name: spec.name, reason: (err as Error).message });
      }
    }
    const opened: ServedModel[] = [];
    for (const model of models) {
      this.progress(`${model.name}: opening sessions`);
      try {
        await this.openSessions(model);
        opened.push(model);
      } catch (err) {
        for (const [cpu, sessions] of await this.pool.close(model.keyPrefix)) this.held.set(cpu, sessions);
        unavailable.push({ name: model.name, reason: (err as Error).message });
      }
    }
    if (opened.length === 0) return { unavailable, dispatchOverheadUs: this.measuredDispatchUs };
    this.progress('measuring the units');
    const counts = [...new Set(opened.flatMap((m) => m.profile.coreCounts))].filter((c) => c <= cpus.length);
    const measured = await measureUnits(this.pool, opened, counts, this.measureOptions, this.gate);
    for (const m of opened) {
      const found = measured.models.get(m.name);
      this.spreads.set(m.name, found?.logSpread ?? 0);
      if (found) m.useMeasured(found.latencies);
      if (this.operating) m.useOperatingScale(this.operating.scale);
      this.served.set(m.name, m);
      this.modelReports.set(m.name, {
        name: m.name,
        segments: m.segmentCount,
        units: m.unitCount,
        unitBytes: m.unitBytes,
        junctionScale: m.plan.junctionScale ?? 1,
        chainOverWhole: Object.fromEntries(
          [...(found?.chainOverWhole ?? [])].map(([v, byCores]) => [v, Object.fromEntries(byCores)]),
        ),
      });
    }
    return { unavailable, dispatchOverheadUs: measured.dispatchOverheadUs };
  }

  /** Opens `model`'s sessions for every CPU window the ledger may hand out; workers open in parallel. */
  private async openSessions(model: ServedModel): Promise<void> {
    const cpus = this.pool.cpus;
    const counts = model.profile.coreCounts.filter((c) => c <= cpus.length);
    await Promise.all(
      cpus.map(async (cpu) => {
        for (const window of cpuWindows(cpus, counts).filter((w) => w[0] === cpu)) {
          const held = await onCpus(this.gate, window, () => this.pool.open(cpu, model.sessionSpecs(window)));
          this.held.set(cpu, held);
          this.opened.add(`${model.name}/${window.join('.')}`);
        }
      }),
    );
  }

  /** The profiles policies plan with (one layer per segment). */
  get predictors(): ReadonlyMap<string, ProfilePredictor> {
    return new Map([...this.models].map(([name, m]) => [name, m.predictor]));
  }

  /**
   * What `blocks` (an engine's records on this runtime) took against the units as measured at
   * start (`operatingCost`). The measurement at start moves between starts of the same build by
   * more than blocks in operation do, and it is taken with the engine's thread idle, which in
   * operation preempts every parallel block at its barriers (decision 0017).
   */
  operatingCostOf(blocks: readonly BlockRecord[]): OperatingCost {
    return operatingCost(blocks, new Map([...this.served].map(([name, m]) => [name, m.measuredPredictor])));
  }

  /**
   * Plans from now on with every measured unit on c CPUs times `cost`'s factor for c (null: as
   * measured at start): engines made afterwards, and the simulator's prediction through
   * `predictors` and `report.operating`, plan with the scaled units. An engine already running
   * takes them when it is next given its tenants (`LiveEngine.setTenants`), with a policy made
   * for them.
   */
  useOperatingCost(cost: OperatingCost | null): void {
    this.operating = cost;
    for (const m of this.served.values()) m.useOperatingScale(cost?.scale ?? new Map());
  }

  /**
   * What a model's default QoS target is taken from (decision 0013): its compiled profile, fixed
   * until the model is compiled again and the one the simulator reads; a model served on an
   * estimate has only its latency measured at start.
   */
  qosBasis(spec: LiveModelSpec): ProfilePredictor {
    return spec.whole ? this.model(spec.name).measuredPredictor : new ProfilePredictor(spec.profile);
  }

  model(name: string): ServedModel {
    const m = this.models.get(name);
    if (!m) throw new VeltairError('unknown_model', `model '${name}' is not served`);
    return m;
  }

  /**
   * Makes sure the worker of `cpus[0]` holds `model`'s sessions for `cpus` (a window the runtime
   * did not open ahead, on a fragmented machine): the open goes ahead of any run sent after it.
   */
  ensureSessions(model: ServedModel, cpus: readonly number[]): void {
    const key = `${model.name}/${cpus.join('.')}`;
    if (this.opened.has(key)) return;
    this.opened.add(key);
    this.pool.open(cpus[0], model.sessionSpecs(cpus)).catch(() => this.opened.delete(key));
  }

  /** A new engine on this runtime; one at a time (they would share the workers). */
  engine(opts: LiveEngineOptions): LiveEngine {
    if (this.active && !this.active.closed)
      throw new Error('a live engine is already running on this runtime');
    this.active = new LiveEngine(this, opts);
    return this.active;
  }

  /**
   * A full collection of this thread's heap, finished before returning: only while no engine
   * runs (between a bench's runs), since it stops the thread for tens of milliseconds.
   */
  collectHeap(): void {
    if (this.active && !this.active.closed)
      throw new Error('the heap is collected only while no engine runs');
    this.heapKeeper.collectIdle();
  }

  async stop(): Promise<void> {
    this.heapKeeper.stop();
    await this.pool.stop();
  }
}

export interface LiveEngineOptions {
  /** The policy, made for the runtime's segment-level profiles. */
  readonly policy: Policy;
  readonly qosTargetMs: Readonly<Record<string, number>>;
  /** What the engine expects each dispatch to add to a block (default: what the runtime measured). */
  readonly dispatchOverheadUs?: number;
  /** Keep the decision hash and the ledger's events. */
  readonly trace?: boolean;
  /**
   * Keep a record of every block and every latency (default true, for benchmarks and tests); a
   * server that runs for days keeps only recent ones (`RECENT_LATENCIES`, `RECENT_BLOCKS`).
   */
  readonly keepRecords?: boolean;
}

/** One block as it ran: where, and how long each part took. */
export interface BlockRecord {
  readonly run: number;
  readonly query: string;
  readonly model: string;
  /** Segments [from, to) of the model. */
  readonly block: readonly [number, number];
  readonly version: string;
  readonly cpus: readonly number[];
  /**
   * Engine time the block was dispatched (handed to its worker once the policy had decided),
   * started on its worker, and ended there (ms).
   */
  readonly dispatchMs: number;
  readonly startMs: number;
  readonly endMs: number;
  /** The CPU its thread ended on, where reported. */
  readonly ranOnCpu?: number;
}

export interface LiveStats {
  readonly engine: EngineStats;
  /** Every block's record, or a server's recent ones (`LiveEngineOptions.keepRecords`). */
  readonly blocks: readonly BlockRecord[];
  readonly ledger: readonly LedgerEvent[];
  readonly traceHash?: string;
  /**
   * CPU time of the thread the engine runs on since the engine was made (ms, 10 ms steps; null
   * where the OS does not tell): its decisions, its messages to and from the workers, its
   * garbage collections, and whatever else that thread serves (a load generator, HTTP). On a
   * machine whose every CPU runs blocks, this time is taken from them.
   */
  readonly engineThreadCpuMs: number | null;
}

interface LiveQuery {
  readonly model: ServedModel;
  readonly live: Map<string, WireTensor>;
  readonly resolve: (outcome: InferOutcome) => void;
  /** When its first block started on a worker (engine ms). */
  firstStartMs?: number;
}

/** Latencies a server's engine keeps per model (`keepRecords: false`). */
const RECENT_LATENCIES = 4096;
/** Blocks a server's engine keeps the records of (`keepRecords: false`): what operation costs is read from them. */
export const RECENT_BLOCKS = 4096;

/** Launch overhead the engine expects per block until the runtime has measured its own. */
export const LIVE_DISPATCH_OVERHEAD_US = 50;

export class LiveEngine implements InferenceService {
  readonly takesFeeds = true;
  readonly clock = new WallClock();
  private readonly core: EngineCore;
  private readonly queries = new Map<string, LiveQuery>();
  private records: BlockRecord[] = [];
  /** Blocks that ended on their workers, whether or not their records are kept. */
  private blocksEnded = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private idleWaiters: (() => void)[] = [];
  private readonly pendingHolds: {
    readonly cpus: readonly number[];
    /** Hold per CPU taken so far. */
    readonly held: Map<number, number>;
    readonly granted: (release: () => void) => void;
  }[] = [];
  closed = false;
  private readonly threadCpuAtStartMs = threadCpuMs();

  constructor(
    private readonly runtime: LiveRuntime,
    private readonly opts: LiveEngineOptions,
  ) {
    const executor: Executor = { start: (blocks) => this.startBlocks(blocks) };
    this.core = new EngineCore(
      {
        cpus: runtime.pool.cpus,
        predictors: runtime.predictors,
        qosTargetMs: opts.qosTargetMs,
        policy: opts.policy,
        dispatchOverheadUs: opts.dispatchOverheadUs ?? runtime.dispatchOverheadUs,
        trace: opts.trace,
        expireLate: true,
        stopwatch: () => performance.now(),
        onQueryEnd: (end) => this.ended(end),
        latencySamples: opts.keepRecords === false ? RECENT_LATENCIES : undefined,
      },
      this.clock,
      executor,
    );
  }

  /** CPUs the engine's ledger hands out. */
  get totalCpus(): number {
    return this.runtime.pool.cpus.length;
  }

  /** The inputs a query of `model` must feed. */
  inputsOf(model: string): readonly ModelInput[] {
    return this.runtime.model(model).inputs;
  }

  /** CPUs running blocks now. */
  get busyCpus(): number {
    return this.core.busyCpus;
  }

  /** The interference monitor's estimate now. */
  get interference(): number {
    return this.core.interference;
  }

  /**
   * Submits one query. `feeds` are taken over: their buffers move to the workers, so the
   * caller must not use them afterwards. Its deadline is the earlier of its model's QoS target
   * after `timing.arrivalMs` (default now) and `timing.deadlineMs`.
   */
  infer(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timing: QueryTiming = {},
  ): Promise<InferOutcome> {
    if (this.closed) throw new Error('the live engine is closed');
    const served = this.runtime.model(model);
    return new Promise((resolve) => {
      const live = new Map<string, WireTensor>();
      for (const input of served.inputs) {
        const t = feeds[input.name];
        if (!t) throw new VeltairError('missing_input', `${model}: input '${input.name}' is missing`);
        live.set(input.name, toWire(t));
      }
      const id = this.core.arrive(model, timing.arrivalMs ?? this.clock.nowMs(), timing.deadlineMs);
      this.queries.set(id, { model: served, live, resolve });
      this.decide();
    });
  }

  /**
   * Schedules the models the runtime serves now with `policy` (once a model was added to the
   * runtime, or before one is removed from it: no query of a model left out may be inside).
   */
  setTenants(policy: Policy, qosTargetMs: Readonly<Record<string, number>>): void {
    this.core.setTenants({ predictors: this.runtime.predictors, qosTargetMs, policy });
    this.decide();
  }

  /**
   * Takes `cpus` away from the policy, each as soon as it is free, for the runtime's own work on
   * their workers (opening and measuring a model loaded while serving: a block sent there would
   * wait behind it, unseen by the policy). Resolves with the release once all are held.
   */
  hold(cpus: readonly number[]): Promise<() => void> {
    return new Promise((granted) => {
      this.pendingHolds.push({ cpus, held: new Map(), granted });
      this.decide();
    });
  }

  /** Rejects every waiting query (reason `aborted`); running blocks finish. */
  abortWaiting(): void {
    this.core.abortWaiting();
    this.decide();
  }

  /** Resolves once no query waits or runs. */
  idle(): Promise<void> {
    if (this.queries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Blocks that have ended on their workers since the engine started. */
  get blocksDone(): number {
    return this.blocksEnded;
  }

  stats(): LiveStats {
    return {
      engine: this.core.stats(),
      blocks: this.records,
      ledger: this.core.ledgerTrace,
      traceHash: this.opts.trace ? this.core.traceHash : undefined,
      engineThreadCpuMs: this.engineThreadCpuMs(),
    };
  }

  private engineThreadCpuMs(): number | null {
    const nowMs = threadCpuMs();
    const startMs = this.threadCpuAtStartMs;
    return nowMs === undefined || startMs === undefined ? null : nowMs - startMs;
  }

  /** Stops taking queries once the running ones are done. */
  async close(): Promise<void> {
    this.abortWaiting();
    await this.idle();
    clearTimeout(this.timer);
    this.closed = true;
  }

  private decide(): void {
    this.grantHolds();
    this.core.decide();
    this.armExpiry();
  }

  /**
   * Holds go before the policy, oldest first: a CPU one waits for is its own once free, so the
   * oldest never waits on a younger one, and every hold is granted once blocks end.
   */
  private grantHolds(): void {
    for (const h of [...this.pendingHolds]) {
      for (const cpu of h.cpus) {
        if (!h.held.has(cpu) && this.core.ledger.isFree(cpu)) h.held.set(cpu, this.core.holdCpu(cpu));
      }
      if (h.held.size < h.cpus.length) continue;
      this.pendingHolds.splice(this.pendingHolds.indexOf(h), 1);
      h.granted(() => {
        for (const [cpu, hold] of h.held) this.core.releaseHold(hold, cpu);
        this.decide();
      });
    }
  }

  /** Wakes the engine when the next waiting query becomes hopeless, to turn it away then. */
  private armExpiry(): void {
    const due = this.core.nextExpiryMs;
    if (due === this.timerAtMs) return;
    clearTimeout(this.timer);
    this.timerAtMs = due;
    if (!Number.isFinite(due)) return;
    this.timer = setTimeout(
      () => {
        this.timerAtMs = Infinity;
        this.core.wake();
        this.decide();
      },
      Math.max(0, due - this.clock.nowMs()) + 0.1,
    );
  }

  private startBlocks(blocks: readonly BlockStart[]): void {
    // The decision round is over: from here to its first session run, each block waits on the
    // engine (`BlockStart.startMs` is the event's time, before the policy was asked).
    const dispatchMs = this.clock.nowMs();
    for (const b of blocks) {
      const q = this.queries.get(b.query);
      const model = this.runtime.model(b.model);
      const chain = model.chain(b.block);
      const feeds: Record<string, WireTensor> = {};
      let missing: string | undefined;
      for (const name of chain.inputs) {
        const w = q?.live.get(name);
        if (!w) missing ??= name;
        else {
          feeds[name] = w;
          q?.live.delete(name);
        }
      }
      if (missing !== undefined) {
        // Not reachable unless the chain plans disagree: fail the query rather than the engine.
        queueMicrotask(() =>
          this.blockDone(b, new Error(`${b.model}: block needs '${missing}', not held`), dispatchMs),
        );
        continue;
      }
      this.runtime.ensureSessions(model, b.cpus);
      const steps = model.steps(chain, b.version, b.cpus);
      this.runtime.pool.run(b.cpus[0], { steps, returns: chain.returns }, feeds, (r) =>
        this.blockDone(b, r, dispatchMs),
      );
    }
  }

  private blockDone(b: BlockStart, result: ChainResult | Error, dispatchMs: number): void {
    if (result instanceof Error) {
      this.core.fail(b.run, result.message);
      this.decide();
      return;
    }
    const q = this.queries.get(b.query);
    for (const [name, w] of Object.entries(result.outputs)) q?.live.set(name, w);
    const startMs = this.clock.fromEpochMs(result.startEpochMs);
    const endMs = this.clock.fromEpochMs(result.endEpochMs);
    if (q) q.firstStartMs ??= startMs;
    this.blocksEnded++;
    this.keep({
      run: b.run,
      query: b.query,
      model: b.model,
      block: b.block,
      version: b.version,
      cpus: b.cpus,
      dispatchMs,
      startMs,
      endMs,
      ranOnCpu: result.cpu,
    });
    this.core.complete(b.run, (endMs - startMs) * 1000, endMs);
    this.decide();
  }

  /** Keeps `record`: every one, or a server's most recent `RECENT_BLOCKS`. */
  private keep(record: BlockRecord): void {
    this.records.push(record);
    if (this.opts.keepRecords === false && this.records.length >= 2 * RECENT_BLOCKS)
      this.records = this.records.slice(-RECENT_BLOCKS);
  }

  private ended(end: QueryEnd): void {
    const q = this.queries.get(end.id);
    if (!q) return;
    this.queries.delete(end.id);
    const { latencyMs, blockOverrunMs, longestBlockMs } = end;
    const timing = { latencyMs, blockOverrunMs, longestBlockMs };
    if (end.outcome === 'completed') {
      const outputs: Record<string, ort.Tensor> = {};
      for (const name of q.model.outputNames) {
        const w = q.live.get(name);
        if (w) outputs[name] = fromWire(w);
      }
      const queueMs = (q.firstStartMs ?? end.endMs) - end.arrivalMs;
      q.resolve({ status: 'ok', outputs, queueMs, satisfied: end.satisfied, ...timing });
    } else {
      for (const w of q.live.values()) freeWire(w);
      q.resolve(
        end.outcome === 'failed'
          ? { status: 'failed', error: end.error ?? 'failed', ...timing }
          : { status: 'rejected', reason: end.reason ?? 'aborted', ...timing },
      );
    }
    if (this.queries.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
