/**
 * The discrete-event simulator of a P-core CPU. It owns time, cores and execution; the
 * policy only decides, through the same EngineView and validation the live engine uses.
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
 */
import { slowdownAt, type ProfilePredictor } from '../compile/index.js';
import { validateDecisions } from '../sched/index.js';
import type { Decision, EngineView, Policy, Query, Running } from '../sched/index.js';
import { Rng, streamSeed } from './rng.js';

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
/** Conflict rate: over the last this many dispatch attempts. */
const CONFLICT_WINDOW = 64;
/** Interference estimate: mean over blocks completed in the last this many ms... */
const MONITOR_WINDOW_MS = 100;
/** ...and at most this many of them. */
const MONITOR_SAMPLES = 16;
/** Offered load: arrivals over the last this many ms. */
const LOAD_WINDOW_MS = 100;

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

interface QueryState {
  /** This model's block-shape cache. */
  shapes: Map<number, BlockShape>;
  index: number;
  id: string;
  model: string;
  pred: ProfilePredictor;
  arrivalMs: number;
  deadlineMs: number;
  nextLayer: number;
  lastCores?: number;
  lastVersion?: string;
  blocks: number;
  readyMs: number;
  view: Query;
}

interface Run {
  q: QueryState;
  seq: number;
  cores: number;
  startMs: number;
  finishMs: number;
  /** Current slowdown (truth). */
  slowdown: number;
  /** Profile slowdown at each profile level for this block. */
  curve: number[];
  sensitivity: number;
  pressure: number;
  predictedSoloUs: number;
  /** Undisturbed run time: noisy solo work plus launch overhead, in us. */
  undisturbedUs: number;
  view: Running;
}

export function simulate(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

const leastCoreUsCache = new WeakMap<ProfilePredictor, number>();

/** Least core-time (core x us) one query of the model needs: each layer on its best cores and version. */
export function leastCoreTimeUs(pred: ProfilePredictor): number {
  let total = leastCoreUsCache.get(pred);
  if (total !== undefined) return total;
  total = 0;
  for (let l = 0; l < pred.layerCount; l++) {
    let best = Infinity;
    for (const v of pred.versions)
      for (let c = 1; c <= pred.maxCores; c++) best = Math.min(best, c * pred.layerUs(l, v, c, 0));
    total += best;
  }
  leastCoreUsCache.set(pred, total);
  return total;
}

class Simulation {
  private nowMs = 0;
  private freeCores: number;
  private readonly waiting: QueryState[] = [];
  private readonly runs: Run[] = [];
  private readonly noiseRng: Rng;
  private readonly noise: NoiseModel;
  private readonly overheadUs: number;
  private seq = 0;
  private pressureTotal = 0;
  private busyCoreMs = 0;
  private lastAdvanceMs = 0;
  private maxCoresInUse = 0;
  /** Ring of the last CONFLICT_WINDOW attempts (1 = conflict) and their sum. */
  private readonly attempts = new Uint8Array(CONFLICT_WINDOW);
  private recentConflicts = 0;
  private conflicts = 0;
  private attemptsTotal = 0;
  private readonly monitor: { atMs: number; level: number }[] = [];
  private readonly loadWindow: { atMs: number; coreUs: number }[] = [];
  private loadSum = 0;
  private readonly leastCoreUs = new Map<string, number>();
  private decideCalls = 0;
  private decisions = 0;
  private misses = 0;
  private rejected = 0;
  private satisfied = 0;
  private blocks = 0;
  private readonly blockSlowdowns: number[] = [];
  private undisturbedCoreUs = 0;
  private actualCoreUs = 0;
  private readonly latencies = new Map<string, number[]>();
  private readonly modelCounts = new Map<string, { queries: number; satisfied: number; rejected: number }>();
  private hash = 0x811c9dc5;

  private readonly profileOf = (model: string): ProfilePredictor => {
    const p = this.opts.predictors.get(model);
    if (!p) throw new Error(`no profile for model '${model}'`);
    return p;
  };

  constructor(private readonly opts: SimOptions) {
    this.freeCores = opts.totalCores;
    this.noiseRng = new Rng(streamSeed(opts.seed, 'noise'));
    this.noise = opts.noise ?? DEFAULT_NOISE;
    this.overheadUs = opts.dispatchOverheadUs ?? DEFAULT_DISPATCH_OVERHEAD_US;
    for (const [m, p] of opts.predictors) this.leastCoreUs.set(m, leastCoreTimeUs(p));
  }

  run(): SimResult {
    const arrivals = this.opts.arrivals;
    let next = 0;
    let complete = true;
    for (;;) {
      const done = this.nextCompletion();
      const arrivalAt = next < arrivals.length ? arrivals[next].atMs : Infinity;
      if (!done && arrivalAt === Infinity) break;
      if (done && done.finishMs <= arrivalAt) {
        this.advance(done.finishMs);
        this.complete(done);
      } else {
        this.advance(arrivalAt);
        this.arrive(next++);
      }
      this.decide();
      if (
        this.opts.maxMisses !== undefined &&
        this.certainMisses(this.opts.maxMisses) > this.opts.maxMisses
      ) {
        this.misses = this.certainMisses(this.opts.maxMisses);
        complete = false;
        break;
      }
    }
    return this.result(complete);
  }

  /**
   * Misses so far, plus, when only they could push the count past `limit`, the queries
   * already past their deadline (waiting or running): those cannot be satisfied any more.
   */
  private certainMisses(limit: number): number {
    if (this.misses + this.waiting.length + this.runs.length <= limit) return this.misses;
    let late = 0;
    for (const q of this.waiting) if (q.deadlineMs < this.nowMs) late++;
    for (const r of this.runs) if (r.q.deadlineMs < this.nowMs) late++;
    return this.misses + late;
  }

  private nextCompletion(): Run | undefined {
    let best: Run | undefined;
    for (const r of this.runs) if (!best || r.finishMs < best.finishMs) best = r;
    return best; // runs are kept in dispatch order, so ties go to the earlier dispatch
  }

  private advance(toMs: number): void {
    this.busyCoreMs += (this.opts.totalCores - this.freeCores) * (toMs - this.lastAdvanceMs);
    this.nowMs = this.lastAdvanceMs = toMs;
  }

  private arrive(index: number): void {
    const a = this.opts.arrivals[index];
    const pred = this.opts.predictors.get(a.model);
    const target = this.opts.qosTargetMs[a.model];
    if (!pred || target === undefined) throw new Error(`arrival for unknown model '${a.model}'`);
    const q: QueryState = {
      shapes: shapeCache(pred),
      index,
      id: `q${index}`,
      model: a.model,
      pred,
      arrivalMs: a.atMs,
      deadlineMs: a.atMs + target,
      nextLayer: 0,
      blocks: 0,
      readyMs: this.nowMs,
      view: { id: `q${index}`, model: a.model, arrivalMs: a.atMs, deadlineMs: a.atMs + target, nextLayer: 0 },
    };
    const counts = this.countsOf(a.model);
    counts.queries++;
    this.waiting.push(q); // arrivals come in index order, so the list stays in arrival order
    this.loadWindow.push({ atMs: this.nowMs, coreUs: this.leastCoreUs.get(a.model) ?? 0 });
    this.loadSum += this.leastCoreUs.get(a.model) ?? 0;
  }

  private countsOf(model: string) {
    let c = this.modelCounts.get(model);
    if (!c) this.modelCounts.set(model, (c = { queries: 0, satisfied: 0, rejected: 0 }));
    return c;
  }

  private complete(run: Run): void {
    this.runs.splice(this.runs.indexOf(run), 1);
    this.freeCores += run.cores;
    this.pressureTotal -= run.pressure * run.cores;
    this.observe(run);
    this.recordSlowdown(run);
    const q = run.q;
    const [, end] = run.view.block;
    q.nextLayer = end;
    q.lastCores = run.cores;
    q.lastVersion = run.view.version;
    q.blocks++;
    this.blocks++;
    if (end >= q.pred.layerCount) this.finish(q);
    else this.makeReady(q);
    this.rerate();
  }

  private finish(q: QueryState): void {
    const latencyMs = this.nowMs - q.arrivalMs;
    let list = this.latencies.get(q.model);
    if (!list) this.latencies.set(q.model, (list = []));
    list.push(latencyMs);
    if (this.nowMs <= q.deadlineMs) {
      this.satisfied++;
      this.countsOf(q.model).satisfied++;
    } else this.misses++;
  }

  private makeReady(q: QueryState): void {
    q.readyMs = this.nowMs;
    q.view = {
      id: q.id,
      model: q.model,
      arrivalMs: q.arrivalMs,
      deadlineMs: q.deadlineMs,
      nextLayer: q.nextLayer,
      lastCores: q.lastCores,
      lastVersion: q.lastVersion,
    };
    // Keep arrival order: insert before the first waiting query that arrived later.
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.waiting[mid].index < q.index) lo = mid + 1;
      else hi = mid;
    }
    this.waiting.splice(lo, 0, q);
  }

  private recordSlowdown(run: Run): void {
    const actualUs = (this.nowMs - run.startMs) * 1000;
    this.blockSlowdowns.push(actualUs / run.undisturbedUs);
    this.undisturbedCoreUs += run.undisturbedUs * run.cores;
    this.actualCoreUs += actualUs * run.cores;
  }

  /** The monitor: the level at which the profile would explain the block's measured latency. */
  private observe(run: Run): void {
    const measuredUs = (this.nowMs - run.startMs) * 1000 - this.overheadUs;
    const ratio = measuredUs / run.predictedSoloUs;
    const level = invertCurve(run.curve, run.q.pred.levels, ratio);
    this.monitor.push({ atMs: this.nowMs, level });
    if (this.monitor.length > MONITOR_SAMPLES) this.monitor.shift();
  }

  private interferenceEstimate(): number {
    let sum = 0;
    let n = 0;
    for (const s of this.monitor) {
      if (s.atMs < this.nowMs - MONITOR_WINDOW_MS) continue;
      sum += s.level;
      n++;
    }
    return n === 0 ? 0 : sum / n;
  }

  private recentLoad(): number {
    const from = this.nowMs - LOAD_WINDOW_MS;
    while (this.loadWindow.length > 0 && this.loadWindow[0].atMs < from) {
      this.loadSum -= (this.loadWindow.shift() as { coreUs: number }).coreUs;
    }
    const load = this.loadSum / (LOAD_WINDOW_MS * 1000 * this.opts.totalCores);
    return Math.min(1, Math.max(0, load));
  }

  private recentConflictRate(): number {
    const n = Math.min(this.attemptsTotal, CONFLICT_WINDOW);
    return n === 0 ? 0 : this.recentConflicts / n;
  }

  private decide(): void {
    if (this.waiting.length === 0) return;
    const view: EngineView = {
      nowMs: this.nowMs,
      totalCores: this.opts.totalCores,
      freeCores: this.freeCores,
      waiting: this.waiting.map((q) => q.view),
      running: this.runs.map((r) => r.view),
      interference: this.interferenceEstimate(),
      recentConflictRate: this.recentConflictRate(),
      recentLoad: this.recentLoad(),
      profile: this.profileOf,
    };
    const decisions = this.opts.policy.decide(view);
    this.decideCalls++;
    if (decisions.length === 0) return;
    validateDecisions(this.opts.policy.name, view, decisions);
    this.decisions += decisions.length;
    // Take the decided queries out of the queue, then apply decisions in the policy's order
    // (that order fixes sequence numbers and noise draws).
    const decided = new Map<string, QueryState>();
    for (const d of decisions) decided.set(d.query, undefined as unknown as QueryState);
    let kept = 0;
    for (const q of this.waiting) {
      if (decided.has(q.id)) decided.set(q.id, q);
      else this.waiting[kept++] = q;
    }
    this.waiting.length = kept;
    const starts = decisions.map((d): [QueryState, Decision] => [decided.get(d.query) as QueryState, d]);
    for (const [q, d] of starts) {
      if (this.opts.trace) this.record(d);
      if (d.kind === 'reject') this.reject(q);
      else this.start(q, d, view.interference);
    }
    this.rerate();
  }

  private record(d: Decision): void {
    const text =
      d.kind === 'dispatch'
        ? `${this.nowMs.toFixed(6)} ${d.query} ${d.block[0]}-${d.block[1]} ${d.cores} ${d.version}`
        : `${this.nowMs.toFixed(6)} ${d.query} reject ${d.reason}`;
    for (let i = 0; i < text.length; i++) {
      this.hash ^= text.charCodeAt(i);
      this.hash = Math.imul(this.hash, 0x01000193);
    }
  }

  private reject(q: QueryState): void {
    this.rejected++;
    this.misses++;
    this.countsOf(q.model).rejected++;
  }

  private start(q: QueryState, d: Extract<Decision, { kind: 'dispatch' }>, estimate: number): void {
    const conflict = this.nowMs > q.readyMs || (d.wantedCores ?? 0) > d.cores;
    const slot = this.attemptsTotal % CONFLICT_WINDOW;
    this.recentConflicts += (conflict ? 1 : 0) - this.attempts[slot];
    this.attempts[slot] = conflict ? 1 : 0;
    this.attemptsTotal++;
    if (conflict) this.conflicts++;

    const [i, j] = d.block;
    const pred = q.pred;
    const shape = blockShape(q.shapes, pred, i, j, d.version, d.cores);
    const soloUs = shape.soloUs;
    const workUs = soloUs * this.noiseRng.lognormal(this.noise.soloSigma) + this.overheadUs;
    const expectedUs = soloUs * slowdownAt(shape.curve, pred.levels, estimate) + this.overheadUs;
    const run: Run = {
      q,
      seq: this.seq++,
      cores: d.cores,
      startMs: this.nowMs,
      finishMs: this.nowMs + workUs / 1000,
      slowdown: 1,
      curve: shape.curve,
      sensitivity: this.noiseRng.lognormal(this.noise.sensitivitySigma),
      pressure: shape.pressure,
      predictedSoloUs: soloUs,
      undisturbedUs: workUs,
      view: {
        query: q.id,
        model: q.model,
        block: [i, j],
        cores: d.cores,
        version: d.version,
        startMs: this.nowMs,
        expectedEndMs: this.nowMs + expectedUs / 1000,
      },
    };
    this.runs.push(run);
    this.freeCores -= d.cores;
    this.pressureTotal += run.pressure * run.cores;
    this.maxCoresInUse = Math.max(this.maxCoresInUse, this.opts.totalCores - this.freeCores);
  }

  /** Re-derives every running block's speed from the co-runners present now. */
  private rerate(): void {
    for (const r of this.runs) {
      const level = Math.max(0, this.pressureTotal - r.pressure * r.cores);
      const profiled = slowdownAt(r.curve, r.q.pred.levels, level);
      const slowdown = Math.max(1, 1 + (profiled - 1) * r.sensitivity);
      if (slowdown === r.slowdown) continue;
      const remainingWorkMs = (r.finishMs - this.nowMs) / r.slowdown;
      r.finishMs = this.nowMs + remainingWorkMs * slowdown;
      r.slowdown = slowdown;
    }
  }

  private result(complete: boolean): SimResult {
    const stranded = complete ? this.waiting.length : 0;
    const queries = this.opts.arrivals.length;
    const all = [...this.latencies.values()].flat();
    const completed = all.length;
    const durationMs = Math.max(this.nowMs, 1e-9);
    const stats = latencyStats(all);
    const out: SimResult = {
      queries,
      completed,
      satisfied: this.satisfied,
      rejected: this.rejected,
      stranded,
      satisfaction: queries === 0 ? 1 : complete ? this.satisfied / queries : 1 - this.misses / queries,
      complete,
      durationMs: this.nowMs,
      throughputQps: (completed / durationMs) * 1000,
      utilization: this.busyCoreMs / (this.opts.totalCores * durationMs),
      conflictRate: this.attemptsTotal === 0 ? 0 : this.conflicts / this.attemptsTotal,
      blocksPerQuery: completed === 0 ? 0 : this.blocks / completed,
      decideCalls: this.decideCalls,
      decisions: this.decisions,
      decideCallsPerSecond: (this.decideCalls / durationMs) * 1000,
      meanLatencyMs: stats.mean,
      p50LatencyMs: stats.p50,
      p99LatencyMs: stats.p99,
      perModel: [...this.modelCounts.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([model, c]) => ({ model, ...c, ...prefixed(latencyStats(this.latencies.get(model) ?? [])) })),
      maxCoresInUse: this.maxCoresInUse,
      ...this.slowdownStats(),
    };
    if (this.opts.trace) out.traceHash = (this.hash >>> 0).toString(16).padStart(8, '0');
    return out;
  }

  private slowdownStats(): Pick<SimResult, 'meanSlowdown' | 'p90Slowdown' | 'maxSlowdown'> {
    const s = Float64Array.from(this.blockSlowdowns).sort();
    if (s.length === 0) return { meanSlowdown: 1, p90Slowdown: 1, maxSlowdown: 1 };
    return {
      meanSlowdown: this.actualCoreUs / this.undisturbedCoreUs,
      p90Slowdown: s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)],
      maxSlowdown: s[s.length - 1],
    };
  }
}

function prefixed(s: { mean: number; p50: number; p99: number }) {
  return { meanMs: s.mean, p50Ms: s.p50, p99Ms: s.p99 };
}

function latencyStats(xs: readonly number[]): { mean: number; p50: number; p99: number } {
  if (xs.length === 0) return { mean: 0, p50: 0, p99: 0 };
  const s = Float64Array.from(xs).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  let sum = 0;
  for (const x of s) sum += x;
  return { mean: sum / s.length, p50: at(0.5), p99: at(0.99) };
}

/** Level at which the piecewise-linear `curve` over `levels` reaches `ratio` (0 below 1). */
export function invertCurve(curve: readonly number[], levels: readonly number[], ratio: number): number {
  if (!(ratio > curve[0]) || levels.length < 2) return 0;
  for (let k = 1; k < levels.length; k++) {
    const last = k === levels.length - 1;
    if (ratio <= curve[k] || last) {
      const rise = curve[k] - curve[k - 1];
      if (rise <= 0) return last ? levels[k] : levels[k - 1];
      return levels[k - 1] + ((ratio - curve[k - 1]) / rise) * (levels[k] - levels[k - 1]);
    }
  }
  return levels[levels.length - 1];
}

interface BlockShape {
  soloUs: number;
  /** Profile slowdown at each of the profile's levels. */
  curve: number[];
  pressure: number;
}

/** Per predictor, per (block, version, cores): a cache of a pure function, shared by runs. */
const blockShapes = new WeakMap<ProfilePredictor, Map<number, BlockShape>>();

function shapeCache(pred: ProfilePredictor): Map<number, BlockShape> {
  let cache = blockShapes.get(pred);
  if (!cache) blockShapes.set(pred, (cache = new Map()));
  return cache;
}

function blockShape(
  cache: Map<number, BlockShape>,
  pred: ProfilePredictor,
  i: number,
  j: number,
  version: string,
  cores: number,
): BlockShape {
  const n = pred.layerCount + 1;
  const key =
    ((i * n + j) * pred.versions.length + pred.versions.indexOf(version)) * (pred.maxCores + 1) + cores;
  let shape = cache.get(key);
  if (!shape) {
    const soloUs = pred.blockUs(i, j, version, cores, 0);
    shape = {
      soloUs,
      curve: pred.levels.map((l) => pred.blockUs(i, j, version, cores, l) / soloUs),
      pressure: blockPressure(pred, i, j, version, cores),
    };
    cache.set(key, shape);
  }
  return shape;
}

/** Work-weighted mean pressure per core of the block's layers in `version`. */
function blockPressure(pred: ProfilePredictor, i: number, j: number, version: string, cores: number): number {
  let weighted = 0;
  let total = 0;
  for (let l = i; l < j; l++) {
    const us = pred.layerUs(l, version, cores, 0);
    weighted += us * pred.layerVersion(l, version).pressure;
    total += us;
  }
  return total > 0 ? weighted / total : 0;
}
