/**
 * The engine core: what the simulator and the live runtime share. It owns the CPU ledger, the
 * waiting and running queries, the conflict and load windows, the interference monitor, the
 * frozen view a policy reads, the one call of the policy, the validation of its decisions, and
 * the decision trace. Time comes from a `Clock`, execution from an `Executor`: the simulator
 * plugs in a virtual clock and its hidden machine model, the live runtime the wall clock and
 * its worker pool.
 *
 * Events are query arrivals and block completions (and, live, failures). The driver reports
 * each event and then calls `decide` once; the core takes the event's time from the clock when
 * the event arrives, and that time is the decision's `nowMs`. A query that becomes ready and is
 * dispatched at the same event time started without conflict.
 */
import { isolatedLatencyMs, type ProfilePredictor } from '../profile/index.js';
import { validateDecisions } from '../sched/index.js';
import type { Decision, EngineView, Policy, Query, RejectReason, Running } from '../sched/index.js';
import type { Clock } from './clock.js';
import { CoreLedger, type LedgerEvent } from './ledger.js';
import { InterferenceMonitor, blockShape, expectedUs, type BlockShape } from './monitor.js';
import { RecentSamples } from './stats.js';
import { VeltairError } from '../errors/index.js';

/** A block the core has started: what an executor needs to run it. */
export interface BlockStart {
  /** Sequence number of the dispatch, unique in the engine's life. */
  readonly run: number;
  readonly query: string;
  /** Arrival index of the query (0, 1, ...). */
  readonly queryIndex: number;
  readonly model: string;
  readonly block: readonly [number, number];
  readonly version: string;
  /** The CPUs the ledger gave the block; the first runs the block's own thread. */
  readonly cpus: readonly number[];
  readonly startMs: number;
}

/** Runs blocks. Completions come back through `EngineCore.complete` / `fail`. */
export interface Executor {
  /** Starts the blocks one decision round dispatched, in the policy's order. */
  start(blocks: readonly BlockStart[]): void;
}

/**
 * Why a query ended without an answer: the policy's reasons, the engine's own (`expired`,
 * `aborted`, `failed`), or `queue_full`: the server turned it away at admission, its model's
 * queue at its limit, before any engine saw it (as a remote client reports it).
 */
export type EndReason = RejectReason | 'queue_full' | 'expired' | 'aborted' | 'failed';

/** How a query ended. */
export interface QueryEnd {
  readonly id: string;
  readonly index: number;
  readonly model: string;
  readonly outcome: 'completed' | 'rejected' | 'failed';
  readonly reason?: EndReason;
  /** Error text of a failed block. */
  readonly error?: string;
  readonly arrivalMs: number;
  readonly endMs: number;
  /** From the scheduled arrival, queueing included. */
  readonly latencyMs: number;
  /** Completed by its deadline. */
  readonly satisfied: boolean;
  /**
   * How long after the deadline the block the query was running at its deadline ended (0: it
   * was running none): the lateness a block, which cannot be stopped, excuses.
   */
  readonly blockOverrunMs: number;
  /**
   * The longest of its blocks, from dispatch to its end (0: it ran none): the longest block it
   * could have been running at its deadline, which the server's deadline promise allows beyond it.
   */
  readonly longestBlockMs: number;
}

/** The models an engine serves and the policy that schedules them. */
export interface Tenants {
  readonly predictors: ReadonlyMap<string, ProfilePredictor>;
  readonly qosTargetMs: Readonly<Record<string, number>>;
  readonly policy: Policy;
}

export interface EngineCoreOptions extends Tenants {
  /** The CPUs the ledger hands out (ids from the affinity mask; 0..P-1 when simulated). */
  cpus: readonly number[];
  /** What the engine expects each dispatch to add to a block's latency (us). */
  dispatchOverheadUs: number;
  /** Keep a hash of every decision and the ledger's events. */
  trace?: boolean;
  /**
   * Reject, before each decision, waiting queries that can no longer meet their deadline even
   * alone on every CPU (by their profile; reason `expired`), so that no query holds a queue
   * place or cores once it can only miss, and none is answered late for want of an event.
   */
  expireLate?: boolean;
  /** High-resolution time in ms, to time each `decide` (unset: not timed). */
  stopwatch?: () => number;
  onQueryEnd?: (end: QueryEnd) => void;
  /** Latencies kept per model, the most recent (default: all; a server bounds them). */
  latencySamples?: number;
}

/** Counters of one model. */
export interface ModelCounts {
  queries: number;
  satisfied: number;
  rejected: number;
  expired: number;
  failed: number;
}

/** Conflict rate: over the last this many dispatch attempts. */
const CONFLICT_WINDOW = 64;
/** Offered load: arrivals over the last this many ms. */
const LOAD_WINDOW_MS = 100;
/** Decide timings kept (the most recent). */
const DECIDE_SAMPLES = 1 << 16;

interface QueryState {
  index: number;
  id: string;
  model: string;
  pred: ProfilePredictor;
  arrivalMs: number;
  deadlineMs: number;
  nextLayer: number;
  lastCores?: number;
  lastVersion?: string;
  lastCpus?: readonly number[];
  blocks: number;
  readyMs: number;
  /**
   * After this time the query cannot finish by its deadline even alone on every CPU: its
   * deadline less its remaining layers' fastest predicted latency (with `expireLate`).
   */
  hopelessAtMs: number;
  /** `QueryEnd.blockOverrunMs`, once a block ran past the deadline. */
  blockOverrunMs: number;
  longestBlockMs: number;
  view: Query;
}

interface RunState {
  q: QueryState;
  start: BlockStart;
  shape: BlockShape;
  view: Running;
}

export class EngineCore {
  readonly ledger: CoreLedger;
  private nowMs = 0;
  private lastEventMs = 0;
  private readonly waiting: QueryState[] = [];
  /** Running blocks by run number, in dispatch order. */
  private readonly runs = new Map<number, RunState>();
  /** The running blocks' views, in dispatch order: each view copies it rather than the map. */
  private readonly runningViews: Running[] = [];
  private readonly monitor = new InterferenceMonitor();
  private nextIndex = 0;
  private nextRun = 0;
  private busyCoreMsTotal = 0;
  /** Ring of the last CONFLICT_WINDOW attempts (1 = conflict) and their sum. */
  private readonly attempts = new Uint8Array(CONFLICT_WINDOW);
  private recentConflicts = 0;
  private conflicts = 0;
  private attemptsTotal = 0;
  private readonly loadWindow: { atMs: number; coreUs: number }[] = [];
  private loadSum = 0;
  private tenants: Tenants;
  /** Holds are runs of their own in the ledger, numbered down from -1. */
  private nextHold = -1;
  private decideCalls = 0;
  private decisions = 0;
  private readonly decideMs = new RecentSamples(DECIDE_SAMPLES);
  private misses = 0;
  private blocks = 0;
  private readonly latencies = new Map<string, RecentSamples>();
  private readonly counts = new Map<string, ModelCounts>();
  private hash = 0x811c9dc5;

  private readonly profileOf = (model: string): ProfilePredictor => {
    const p = this.tenants.predictors.get(model);
    if (!p) throw new VeltairError('profile_unavailable', `no profile for model '${model}'`);
    return p;
  };

  constructor(
    private readonly opts: EngineCoreOptions,
    private readonly clock: Clock,
    private readonly executor: Executor,
  ) {
    this.ledger = new CoreLedger(opts.cpus, { trace: opts.trace });
    this.tenants = opts;
  }

  /**
   * Serves `tenants` from the next decision on (a server loading or unloading a model). A model
   * left out must have no query inside; the others' queries go on where they are, and the new
   * policy sees them in its next view (policies keep no state between calls).
   */
  setTenants(tenants: Tenants): void {
    const inside = [...this.waiting, ...[...this.runs.values()].map((r) => r.q)];
    const orphan = inside.find((q) => !tenants.predictors.has(q.model));
    if (orphan) throw new Error(`model '${orphan.model}' still has query ${orphan.id} inside the engine`);
    this.tenants = tenants;
  }

  /**
   * Takes `cpu`, free now, out of what policies may use (a live runtime opening or measuring a
   * model on its worker while the engine serves); returns the hold, for `releaseHold`.
   */
  holdCpu(cpu: number): number {
    const hold = this.nextHold--;
    this.ledger.takeExactly([cpu], hold, this.clock.nowMs());
    return hold;
  }

  releaseHold(hold: number, cpu: number): void {
    this.ledger.release([cpu], hold, this.clock.nowMs());
  }

  /** A query of `model` scheduled to arrive at `arrivalMs` is here; returns its id. */
  arrive(model: string, arrivalMs: number, deadlineMs?: number): string {
    this.beginEvent();
    const pred = this.tenants.predictors.get(model);
    const target = this.tenants.qosTargetMs[model];
    if (!pred || target === undefined)
      throw new VeltairError('unknown_model', `arrival for unknown model '${model}'`);
    const index = this.nextIndex++;
    const id = `q${index}`;
    const due = Math.min(arrivalMs + target, deadlineMs ?? Infinity);
    const q: QueryState = {
      index,
      id,
      model,
      pred,
      arrivalMs,
      deadlineMs: due,
      nextLayer: 0,
      blocks: 0,
      readyMs: this.nowMs,
      hopelessAtMs: this.hopelessAtMs(pred, 0, due),
      blockOverrunMs: 0,
      longestBlockMs: 0,
      view: { id, model, arrivalMs, deadlineMs: due, nextLayer: 0 },
    };
    this.countsOf(model).queries++;
    this.waiting.push(q); // arrivals come in index order, so the list stays in arrival order
    const coreUs = leastCoreTimeUs(pred);
    this.loadWindow.push({ atMs: this.nowMs, coreUs });
    this.loadSum += coreUs;
    return id;
  }

  /**
   * Block `run` has ended; it ran `measuredUs` (its own run time, without the launch). `endedMs`
   * is when it ended, where that is before the engine heard of it (a live worker's clock).
   */
  complete(run: number, measuredUs: number, endedMs?: number): void {
    this.beginEvent();
    const r = this.takeRun(run, endedMs);
    this.monitor.observe(this.nowMs, r.shape, r.q.pred.levels, measuredUs);
    const q = r.q;
    const [, end] = r.start.block;
    q.nextLayer = end;
    q.lastCores = r.start.cpus.length;
    q.lastVersion = r.start.version;
    q.lastCpus = r.start.cpus;
    q.blocks++;
    this.blocks++;
    if (end >= q.pred.layerCount) this.finish(q);
    else this.makeReady(q);
  }

  /** Block `run` failed: its query ends with the error; its CPUs are free again. */
  fail(run: number, error: string): void {
    this.beginEvent();
    const r = this.takeRun(run);
    this.end(r.q, 'failed', 'failed', error);
  }

  /** An event that changes nothing but the time (a timer): the next `decide` sees the clock's now. */
  wake(): void {
    this.beginEvent();
  }

  /** Rejects every waiting query (reason `aborted`): the engine is stopping, or a run was cut short. */
  abortWaiting(): void {
    this.beginEvent();
    for (const q of this.waiting.splice(0)) this.end(q, 'rejected', 'aborted');
  }

  /** Calls the policy once on the current state and carries out what it decides. */
  decide(): void {
    if (this.opts.expireLate) this.expire();
    if (this.waiting.length === 0) return;
    const view: EngineView = {
      nowMs: this.nowMs,
      totalCores: this.ledger.total,
      freeCores: this.ledger.free,
      waiting: this.waiting.map((q) => q.view),
      running: this.runningViews.slice(),
      interference: this.monitor.estimate(this.nowMs),
      recentConflictRate: this.recentConflictRate(),
      recentLoad: this.recentLoad(),
      profile: this.profileOf,
    };
    const decisions = this.timedDecide(view);
    this.decideCalls++;
    if (decisions.length === 0) return;
    validateDecisions(this.tenants.policy.name, view, decisions);
    this.decisions += decisions.length;
    // Take the decided queries out of the queue, then apply decisions in the policy's order
    // (that order fixes run numbers, CPU choice and, simulated, noise draws).
    const decided = this.takeDecided(decisions);
    const starts: BlockStart[] = [];
    for (let k = 0; k < decisions.length; k++) {
      const d = decisions[k];
      const q = decided[k];
      if (this.opts.trace) this.record(d);
      if (d.kind === 'reject') this.end(q, 'rejected', d.reason);
      else starts.push(this.start(q, d, view.interference));
    }
    if (starts.length > 0) this.executor.start(starts);
  }

  /** Removes the (validated) decided queries from the queue; returns them in decision order. */
  private takeDecided(decisions: readonly Decision[]): QueryState[] {
    // Few decisions against a short queue (the common case): scans beat building a map.
    const index =
      decisions.length * this.waiting.length <= 256 ? undefined : new Map(this.waiting.map((q) => [q.id, q]));
    const decided: QueryState[] = [];
    for (const d of decisions)
      decided.push((index ? index.get(d.query) : this.waitingById(d.query)) as QueryState);
    const taken = index ? new Set(decided) : undefined;
    let kept = 0;
    for (const q of this.waiting) if (!(taken ? taken.has(q) : decided.includes(q))) this.waiting[kept++] = q;
    this.waiting.length = kept;
    return decided;
  }

  private waitingById(id: string): QueryState | undefined {
    for (const q of this.waiting) if (q.id === id) return q;
    return undefined;
  }

  /**
   * Misses so far, plus, when only they could push the count past `limit`, the queries
   * already past their deadline (waiting or running): those cannot be satisfied any more.
   */
  certainMisses(limit: number): number {
    if (this.misses + this.waiting.length + this.runs.size <= limit) return this.misses;
    let late = 0;
    for (const q of this.waiting) if (q.deadlineMs < this.nowMs) late++;
    for (const r of this.runs.values()) if (r.q.deadlineMs < this.nowMs) late++;
    return this.misses + late;
  }

  /** Misses so far (rejected, expired, failed, or completed late). */
  get missCount(): number {
    return this.misses;
  }

  /**
   * With `expireLate`, when the next waiting query becomes hopeless (Infinity when none wait):
   * a driver calls `wake` and `decide` then, so that the query is turned away before its
   * deadline rather than at the next event.
   */
  get nextExpiryMs(): number {
    let earliest = Infinity;
    for (const q of this.waiting) earliest = Math.min(earliest, q.hopelessAtMs);
    return earliest;
  }

  /** CPUs held by running blocks now. */
  get busyCpus(): number {
    return this.opts.cpus.length - this.ledger.free;
  }

  /** The interference monitor's estimate now (the profiles' unit). */
  get interference(): number {
    return this.monitor.estimate(this.clock.nowMs());
  }

  /** The hash of every decision so far (with `trace`). */
  get traceHash(): string {
    return (this.hash >>> 0).toString(16).padStart(8, '0');
  }

  get ledgerTrace(): readonly LedgerEvent[] {
    return this.ledger.trace;
  }

  stats(): EngineStats {
    return {
      nowMs: this.nowMs,
      arrived: this.nextIndex,
      waiting: this.waiting.length,
      running: this.runs.size,
      misses: this.misses,
      busyCoreMs: this.busyCoreMsTotal,
      conflicts: this.conflicts,
      attempts: this.attemptsTotal,
      blocks: this.blocks,
      decideCalls: this.decideCalls,
      decisions: this.decisions,
      decideMs: this.decideMs.values(),
      maxCoresInUse: this.ledger.maxBusy,
      latencies: new Map([...this.latencies].map(([m, l]) => [m, l.values()])),
      counts: this.counts,
    };
  }

  /** Takes the clock's time as the current event's and counts busy core-time up to it. */
  private beginEvent(): void {
    const now = this.clock.nowMs();
    this.busyCoreMsTotal += this.ledger.busy * (now - this.lastEventMs);
    this.nowMs = this.lastEventMs = now;
  }

  /**
   * The block excuses lateness up to its own end only: the time until the engine hears of it (a
   * busy or paused engine thread) is the engine's.
   */
  private takeRun(run: number, endedMs = this.nowMs): RunState {
    const r = this.runs.get(run);
    if (!r) throw new Error(`run ${run} is not running`);
    const blockEndMs = Math.min(endedMs, this.nowMs);
    if (r.start.startMs <= r.q.deadlineMs && blockEndMs > r.q.deadlineMs)
      r.q.blockOverrunMs = blockEndMs - r.q.deadlineMs;
    r.q.longestBlockMs = Math.max(r.q.longestBlockMs, blockEndMs - r.start.startMs);
    this.runs.delete(run);
    removeItem(this.runningViews, r.view);
    this.ledger.release(r.start.cpus, run, this.nowMs);
    return r;
  }

  private timedDecide(view: EngineView): Decision[] {
    const watch = this.opts.stopwatch;
    if (!watch) return this.tenants.policy.decide(view);
    const t0 = watch();
    const decisions = this.tenants.policy.decide(view);
    this.decideMs.push(watch() - t0);
    return decisions;
  }

  private countsOf(model: string): ModelCounts {
    let c = this.counts.get(model);
    if (!c) this.counts.set(model, (c = { queries: 0, satisfied: 0, rejected: 0, expired: 0, failed: 0 }));
    return c;
  }

  private finish(q: QueryState): void {
    const latencyMs = this.nowMs - q.arrivalMs;
    let list = this.latencies.get(q.model);
    if (!list) this.latencies.set(q.model, (list = new RecentSamples(this.opts.latencySamples ?? Infinity)));
    list.push(latencyMs);
    const satisfied = this.nowMs <= q.deadlineMs;
    if (satisfied) this.countsOf(q.model).satisfied++;
    else this.misses++;
    this.opts.onQueryEnd?.({ ...this.endOf(q, latencyMs), outcome: 'completed', satisfied });
  }

  /** Ends a query without an answer. */
  private end(q: QueryState, outcome: 'rejected' | 'failed', reason: EndReason, error?: string): void {
    this.misses++;
    const counts = this.countsOf(q.model);
    if (outcome === 'failed') counts.failed++;
    else if (reason === 'expired') counts.expired++;
    else counts.rejected++;
    const end = { ...this.endOf(q, this.nowMs - q.arrivalMs), outcome, reason, satisfied: false };
    this.opts.onQueryEnd?.(error === undefined ? end : { ...end, error });
  }

  private endOf(q: QueryState, latencyMs: number) {
    return {
      id: q.id,
      index: q.index,
      model: q.model,
      arrivalMs: q.arrivalMs,
      endMs: this.nowMs,
      latencyMs,
      blockOverrunMs: q.blockOverrunMs,
      longestBlockMs: q.longestBlockMs,
    };
  }

  private expire(): void {
    let kept = 0;
    for (const q of this.waiting) {
      if (q.hopelessAtMs < this.nowMs) this.end(q, 'rejected', 'expired');
      else this.waiting[kept++] = q;
    }
    this.waiting.length = kept;
  }

  /** A query's deadline less `leastServiceMs` from `nextLayer` on: the server's admission rule, kept while it waits. */
  private hopelessAtMs(pred: ProfilePredictor, nextLayer: number, deadlineMs: number): number {
    if (!this.opts.expireLate) return deadlineMs;
    return deadlineMs - leastServiceMs(pred, this.ledger.total, this.opts.dispatchOverheadUs, nextLayer);
  }

  private makeReady(q: QueryState): void {
    q.readyMs = this.nowMs;
    q.hopelessAtMs = this.hopelessAtMs(q.pred, q.nextLayer, q.deadlineMs);
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
    insertAt(this.waiting, lo, q);
  }

  private recentLoad(): number {
    const from = this.nowMs - LOAD_WINDOW_MS;
    while (this.loadWindow.length > 0 && this.loadWindow[0].atMs < from) {
      this.loadSum -= (this.loadWindow.shift() as { coreUs: number }).coreUs;
    }
    const load = this.loadSum / (LOAD_WINDOW_MS * 1000 * this.ledger.total);
    return Math.min(1, Math.max(0, load));
  }

  private recentConflictRate(): number {
    const n = Math.min(this.attemptsTotal, CONFLICT_WINDOW);
    return n === 0 ? 0 : this.recentConflicts / n;
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

  private start(q: QueryState, d: Extract<Decision, { kind: 'dispatch' }>, estimate: number): BlockStart {
    const conflict = this.nowMs > q.readyMs || (d.wantedCores ?? 0) > d.cores;
    const slot = this.attemptsTotal % CONFLICT_WINDOW;
    this.recentConflicts += (conflict ? 1 : 0) - this.attempts[slot];
    this.attempts[slot] = conflict ? 1 : 0;
    this.attemptsTotal++;
    if (conflict) this.conflicts++;

    const [i, j] = d.block;
    const block = [i, j] as const;
    const shape = blockShape(q.pred, i, j, d.version, d.cores);
    const endUs = expectedUs(shape, q.pred.levels, estimate, this.opts.dispatchOverheadUs);
    const run = this.nextRun++;
    const cpus = this.ledger.take(d.cores, run, this.nowMs, q.lastCpus);
    const start: BlockStart = {
      run,
      query: q.id,
      queryIndex: q.index,
      model: q.model,
      block,
      version: d.version,
      cpus,
      startMs: this.nowMs,
    };
    const view: Running = {
      query: q.id,
      model: q.model,
      block,
      cores: d.cores,
      version: d.version,
      startMs: this.nowMs,
      expectedEndMs: this.nowMs + endUs / 1000,
    };
    this.runs.set(run, { q, start, shape, view });
    this.runningViews.push(view);
    return start;
  }
}

/** What the core counted; the engines turn it into their reports. */
export interface EngineStats {
  /** Time of the last event. */
  nowMs: number;
  arrived: number;
  waiting: number;
  running: number;
  misses: number;
  busyCoreMs: number;
  conflicts: number;
  attempts: number;
  blocks: number;
  decideCalls: number;
  decisions: number;
  /** Duration of each timed `decide` (the most recent 65536), in ms. */
  decideMs: readonly number[];
  maxCoresInUse: number;
  /** Latencies of completed queries by model, in completion order (the most recent `latencySamples`). */
  latencies: ReadonlyMap<string, readonly number[]>;
  counts: ReadonlyMap<string, ModelCounts>;
}

// Array edits in place: `splice` would allocate the array of what it removed, at every event.

function removeItem<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at < 0) return;
  for (let k = at; k < list.length - 1; k++) list[k] = list[k + 1];
  list.pop();
}

function insertAt<T>(list: T[], at: number, item: T): void {
  list.push(item);
  for (let k = list.length - 1; k > at; k--) list[k] = list[k - 1];
  list[at] = item;
}

/**
 * The least time a query needs from `fromLayer` on: its layers alone at their best core count,
 * and one dispatch. A server turns away at arrival what has less time left than this, and the
 * live engine turns away by it what waits.
 */
export function leastServiceMs(
  pred: ProfilePredictor,
  totalCores: number,
  dispatchOverheadUs: number,
  fromLayer = 0,
): number {
  return isolatedLatencyMs(pred, totalCores, fromLayer) + dispatchOverheadUs / 1000;
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
