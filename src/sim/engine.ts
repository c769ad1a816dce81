/**
 * The discrete-event simulator of a P-core CPU: the engine core (src/engine) driven by a virtual
 * clock, with a hidden machine model as its executor. The policy only decides, through the same
 * core, view and validation the live runtime uses.
 *
 * Events are query arrivals and block completions. At equal times completions come first
 * (they free cores), completions in dispatch order, arrivals in index order, so a seed
 * fixes the run. `decide` is called after every event.
 *
 * Execution model (hidden from the policy): a block's solo work is its profile latency
 * times lognormal noise plus a fixed launch overhead per dispatch. While it runs, its
 * speed is 1 / slowdown, where the slowdown follows the block's profile curve at the level
 * its co-runners exert right now (sum of pressure x cores over the other running blocks)
 * with a per-run lognormal sensitivity factor; every start and end re-rates all running
 * blocks. The policy sees only the monitor's estimate of the level, inferred from how
 * much slower than predicted recent blocks ran, as the live monitor does.
 *
 * With `truth: 'measured-error'` the solo latency and the co-runners' slowdown come from a
 * hidden machine drawn around the profiles instead (truth.ts); the noise stays on top.
 */
import { blockPressure, nearestRank, slowdownAt, type ProfilePredictor } from '../profile/index.js';
import {
  EngineCore,
  VirtualClock,
  blockShape,
  latencyStats,
  type BlockStart,
  type Executor,
  type QueryEnd,
} from '../engine/index.js';
import type { Policy } from '../sched/index.js';
import { Rng, streamSeed } from './rng.js';
import { hiddenMachine, type HiddenBlock, type HiddenMachine, type TruthSetting } from './truth.js';

export interface Arrival {
  model: string;
  atMs: number;
}

export interface NoiseModel {
  /** Log-space deviation of a block's solo latency around its profile (run to run). */
  soloSigma: number;
  /** Log-space deviation of a run's sensitivity to interference around its profile. */
  sensitivitySigma: number;
}

export const DEFAULT_NOISE: NoiseModel = { soloSigma: 0.05, sensitivitySigma: 0.15 };
/** Cost of starting one block: one ORT run call and waking its threads. */
export const DEFAULT_DISPATCH_OVERHEAD_US = 20;

export interface SimOptions {
  totalCores: number;
  predictors: ReadonlyMap<string, ProfilePredictor>;
  qosTargetMs: Readonly<Record<string, number>>;
  /** Sorted by `atMs`. */
  arrivals: readonly Arrival[];
  policy: Policy;
  seed: number;
  noise?: NoiseModel;
  dispatchOverheadUs?: number;
  /** Stop as soon as more queries than this have missed (the point cannot pass). */
  maxMisses?: number;
  /** Keep a hash of every decision (for golden traces). */
  trace?: boolean;
  /** Drop waiting queries past their deadline before each decision, as the live engine does. */
  expireLate?: boolean;
  /** Which machine runs the blocks (truth.ts); default `profile`. Policies read profiles either way. */
  truth?: TruthSetting;
  /** Told of every query as it ends (answered or not). */
  onQueryEnd?: (end: QueryEnd) => void;
  /** Asked after every event; true ends the run there (a sequential test has decided). */
  stopWhen?: () => boolean;
}

export interface ModelStats {
  model: string;
  queries: number;
  satisfied: number;
  rejected: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

export interface SimResult {
  queries: number;
  completed: number;
  satisfied: number;
  /** Dropped by the policy (or, with `expireLate`, by the engine once past their deadline). */
  rejected: number;
  /** Left waiting with nothing left to wake the policy (counted as misses). */
  stranded: number;
  /** satisfied / queries; when stopped early, 1 - misses so far / queries (an upper bound). */
  satisfaction: number;
  /** False when the run stopped early at `maxMisses`. */
  complete: boolean;
  durationMs: number;
  throughputQps: number;
  /** Busy core-time over cores x duration. */
  utilization: number;
  /** Conflicts over dispatch attempts, whole run. */
  conflictRate: number;
  blocksPerQuery: number;
  decideCalls: number;
  decisions: number;
  /** decide calls per simulated second. */
  decideCallsPerSecond: number;
  /** Over completed queries, from scheduled arrival. */
  meanLatencyMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  perModel: ModelStats[];
  maxCoresInUse: number;
  /**
   * How much co-runners slowed the blocks that completed: each block's run time over its
   * undisturbed time. `meanSlowdown` weights blocks by their undisturbed core-time (busy
   * core-time / undisturbed core-time); p90 and max are over blocks (1 when none ran).
   */
  meanSlowdown: number;
  p90Slowdown: number;
  maxSlowdown: number;
  traceHash?: string;
}

export function simulate(opts: SimOptions): SimResult {
  const clock = new VirtualClock();
  const overheadUs = opts.dispatchOverheadUs ?? DEFAULT_DISPATCH_OVERHEAD_US;
  const machine = new SimulatedMachine(clock, opts, overheadUs);
  const core = new EngineCore(
    {
      cpus: Array.from({ length: opts.totalCores }, (_, k) => k),
      predictors: opts.predictors,
      qosTargetMs: opts.qosTargetMs,
      policy: opts.policy,
      dispatchOverheadUs: overheadUs,
      trace: opts.trace,
      expireLate: opts.expireLate,
      onQueryEnd: opts.onQueryEnd,
    },
    clock,
    machine,
  );
  const arrivals = opts.arrivals;
  let next = 0;
  let misses: number | undefined;
  for (;;) {
    const done = machine.nextCompletion();
    const arrivalAt = next < arrivals.length ? arrivals[next].atMs : Infinity;
    if (!done && arrivalAt === Infinity) break;
    if (done && done.finishMs <= arrivalAt) {
      clock.set(done.finishMs);
      core.complete(done.start.run, machine.finish(done));
    } else {
      clock.set(arrivalAt);
      core.arrive(arrivals[next].model, arrivals[next].atMs);
      next++;
    }
    core.decide();
    if (opts.maxMisses !== undefined && core.certainMisses(opts.maxMisses) > opts.maxMisses) {
      misses = core.certainMisses(opts.maxMisses);
      break;
    }
    if (opts.stopWhen?.()) {
      misses = core.missCount;
      break;
    }
  }
  return result(opts, core, machine, misses);
}

function result(opts: SimOptions, core: EngineCore, machine: SimulatedMachine, misses?: number): SimResult {
  const s = core.stats();
  const complete = misses === undefined;
  const stranded = complete ? s.waiting : 0;
  const queries = opts.arrivals.length;
  const all = [...s.latencies.values()].flat();
  const completed = all.length;
  const durationMs = Math.max(s.nowMs, 1e-9);
  const stats = latencyStats(all);
  let satisfied = 0;
  let rejected = 0;
  for (const c of s.counts.values()) {
    satisfied += c.satisfied;
    rejected += c.rejected + c.expired;
  }
  const out: SimResult = {
    queries,
    completed,
    satisfied,
    rejected,
    stranded,
    satisfaction: queries === 0 ? 1 : complete ? satisfied / queries : 1 - (misses as number) / queries,
    complete,
    durationMs: s.nowMs,
    throughputQps: (completed / durationMs) * 1000,
    utilization: s.busyCoreMs / (opts.totalCores * durationMs),
    conflictRate: s.attempts === 0 ? 0 : s.conflicts / s.attempts,
    blocksPerQuery: completed === 0 ? 0 : s.blocks / completed,
    decideCalls: s.decideCalls,
    decisions: s.decisions,
    decideCallsPerSecond: (s.decideCalls / durationMs) * 1000,
    meanLatencyMs: stats.mean,
    p50LatencyMs: stats.p50,
    p99LatencyMs: stats.p99,
    perModel: [...s.counts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([model, c]) => {
        const l = latencyStats(s.latencies.get(model) ?? []);
        return {
          model,
          queries: c.queries,
          satisfied: c.satisfied,
          rejected: c.rejected + c.expired,
          meanMs: l.mean,
          p50Ms: l.p50,
          p99Ms: l.p99,
        };
      }),
    maxCoresInUse: s.maxCoresInUse,
    ...machine.slowdownStats(),
  };
  if (opts.trace) out.traceHash = core.traceHash;
  return out;
}

/** A block on the simulated machine. */
interface SimRun {
  start: BlockStart;
  pred: ProfilePredictor;
  cores: number;
  finishMs: number;
  /** Current slowdown (truth). */
  slowdown: number;
  /** Profile slowdown at each profile level for this block. */
  curve: number[];
  sensitivity: number;
  pressure: number;
  /** Undisturbed run time: noisy solo work plus launch overhead, in us. */
  undisturbedUs: number;
  /** The block on the hidden machine, when the machine is not its profiles. */
  hidden: HiddenBlock | undefined;
}

/**
 * The hidden machine model: runs blocks at their noisy profile latency, slowed by what the
 * other running blocks exert, and knows when each will end.
 */
class SimulatedMachine implements Executor {
  /** In dispatch order. */
  private readonly runs: SimRun[] = [];
  private readonly noiseRng: Rng;
  private readonly noise: NoiseModel;
  private readonly truth: HiddenMachine | undefined;
  private pressureTotal = 0;
  private readonly blockSlowdowns: number[] = [];
  private undisturbedCoreUs = 0;
  private actualCoreUs = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly opts: SimOptions,
    private readonly overheadUs: number,
  ) {
    this.noiseRng = new Rng(streamSeed(opts.seed, 'noise'));
    this.noise = opts.noise ?? DEFAULT_NOISE;
    this.truth = hiddenMachine(opts.truth ?? 'profile', opts.predictors, opts.seed);
  }

  start(blocks: readonly BlockStart[]): void {
    const nowMs = this.clock.nowMs();
    for (const start of blocks) {
      const pred = this.opts.predictors.get(start.model) as ProfilePredictor;
      const [i, j] = start.block;
      const cores = start.cpus.length;
      const shape = blockShape(pred, i, j, start.version, cores);
      const hidden = this.truth?.admit(start);
      const soloUs = hidden ? hidden.soloUs : shape.soloUs;
      const workUs = soloUs * this.noiseRng.lognormal(this.noise.soloSigma) + this.overheadUs;
      const run: SimRun = {
        start,
        pred,
        cores,
        finishMs: nowMs + workUs / 1000,
        slowdown: 1,
        curve: shape.curve,
        sensitivity: this.noiseRng.lognormal(this.noise.sensitivitySigma),
        pressure: blockPressure(pred, i, j, start.version, { cores }),
        undisturbedUs: workUs,
        hidden,
      };
      this.runs.push(run);
      this.pressureTotal += run.pressure * run.cores;
    }
    this.rerate();
  }

  /** The block that ends first: earliest end, then earliest dispatch. */
  nextCompletion(): SimRun | undefined {
    let best: SimRun | undefined;
    for (const r of this.runs) {
      if (
        !best ||
        r.finishMs < best.finishMs ||
        (r.finishMs === best.finishMs && r.start.run < best.start.run)
      )
        best = r;
    }
    return best;
  }

  /** Ends `run` now; returns its measured run time without the launch overhead (us). */
  finish(run: SimRun): number {
    const nowMs = this.clock.nowMs();
    this.runs.splice(this.runs.indexOf(run), 1);
    this.pressureTotal -= run.pressure * run.cores;
    if (run.hidden) this.truth?.release(run.hidden);
    const actualUs = (nowMs - run.start.startMs) * 1000;
    this.blockSlowdowns.push(actualUs / run.undisturbedUs);
    this.undisturbedCoreUs += run.undisturbedUs * run.cores;
    this.actualCoreUs += actualUs * run.cores;
    this.rerate();
    return actualUs - this.overheadUs;
  }

  /** Re-derives every running block's speed from the co-runners present now. */
  private rerate(): void {
    const nowMs = this.clock.nowMs();
    this.truth?.settle();
    for (const r of this.runs) {
      const level = Math.max(0, this.pressureTotal - r.pressure * r.cores);
      const modelled = r.hidden ? r.hidden.slowdown : slowdownAt(r.curve, r.pred.levels, level);
      const slowdown = Math.max(1, 1 + (modelled - 1) * r.sensitivity);
      if (slowdown === r.slowdown) continue;
      const remainingWorkMs = (r.finishMs - nowMs) / r.slowdown;
      r.finishMs = nowMs + remainingWorkMs * slowdown;
      r.slowdown = slowdown;
    }
  }

  slowdownStats(): Pick<SimResult, 'meanSlowdown' | 'p90Slowdown' | 'maxSlowdown'> {
    const s = Float64Array.from(this.blockSlowdowns).sort();
    if (s.length === 0) return { meanSlowdown: 1, p90Slowdown: 1, maxSlowdown: 1 };
    return {
      meanSlowdown: this.actualCoreUs / this.undisturbedCoreUs,
      p90Slowdown: nearestRank(s, 0.9),
      maxSlowdown: s[s.length - 1],
    };
  }
}
