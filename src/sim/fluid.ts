/**
 * An idealised scheduler, for reference only: preemptive earliest-deadline-first on a fluid
 * machine. At every arrival, completion and drop the cores are divided afresh, in deadline
 * order, at the interference the queries placed before each exert by their profiles, by one of
 * two rules (`FluidDivision`); a query that could not finish by its deadline even alone on the
 * whole machine is dropped. There are no blocks, no dispatch costs and no prediction errors:
 * the machine is the profiles themselves (the `profile` truth, without its run-to-run noise).
 *
 * No policy can do this (it re-divides cores in the middle of layers, for free), so its peak
 * shows how much of the physical limit the QoS targets and the interference between co-running
 * queries leave to any scheduler. It is a reference, not a bound: neither greedy rule is
 * optimal, and which one reaches higher depends on how the models scale (on 2 CPUs, where a
 * second CPU speeds the light mix's models up by 1.3-1.9x, `thrifty` does; on 64 cores with
 * targets of a few whole-machine latencies, `fastest`).
 */
import { VeltairError } from '../errors/index.js';
import { blockPressure, isolatedLatencyMs, type ProfilePredictor } from '../profile/index.js';
import type { QueryEnd } from '../engine/index.js';
import type { Arrival, ModelStats } from './engine.js';

/**
 * How the cores are divided at each event:
 * - `fastest`: each query, in deadline order, takes the version and core count on which its
 *   model's remaining work runs fastest among the cores still free;
 * - `thrifty`: each query, in deadline order, takes the core count with the least core-time
 *   (cores x latency) among those still free; the cores left then widen the placed queries, in
 *   deadline order, up to their fastest count. Serves more queries at once where cores scale
 *   poorly; a query alone still gets the machine.
 */
export type FluidDivision = 'fastest' | 'thrifty';

export const FLUID_DIVISIONS: readonly FluidDivision[] = ['fastest', 'thrifty'];

export interface FluidOptions {
  totalCores: number;
  /** How the cores are divided (default `fastest`). */
  division?: FluidDivision;
  predictors: ReadonlyMap<string, ProfilePredictor>;
  qosTargetMs: Readonly<Record<string, number>>;
  /** Sorted by `atMs`. */
  arrivals: readonly Arrival[];
  /** Told of every query as it ends. */
  onQueryEnd?: (end: QueryEnd) => void;
  /** Asked after every event; true ends the run there. */
  stopWhen?: () => boolean;
}

/** The simulator's per-model counts, without the latencies the reference does not report. */
export type FluidModelStats = Pick<ModelStats, 'model' | 'queries' | 'satisfied' | 'rejected'>;

export interface FluidResult {
  queries: number;
  satisfied: number;
  rejected: number;
  perModel: FluidModelStats[];
  /** Busy core-time over cores x duration. */
  utilization: number;
  durationMs: number;
}

interface Job {
  readonly index: number;
  readonly model: string;
  readonly pred: ProfilePredictor;
  readonly arrivalMs: number;
  readonly deadlineMs: number;
  /** Share of the whole model still to run (1 at arrival). */
  left: number;
}

interface Share {
  readonly job: Job;
  readonly cores: number;
  readonly version: string;
  /** Pressure it exerts on the others: its version's pressure per core x its cores. */
  readonly pressure: number;
  /** Whole-model latency at the interference all the others exert, ms; it progresses at 1 / latency per ms. */
  readonly latencyMs: number;
}

/** Runs `arrivals` through the idealised scheduler. */
export function fluidEdf(o: FluidOptions): FluidResult {
  const perModel = new Map<string, FluidModelStats>();
  for (const m of Object.keys(o.qosTargetMs))
    perModel.set(m, { model: m, queries: 0, satisfied: 0, rejected: 0 });
  const active: Job[] = [];
  let next = 0;
  let nowMs = o.arrivals.length > 0 ? o.arrivals[0].atMs : 0;
  let busyCoreMs = 0;
  const end = (job: Job, satisfied: boolean, rejected: boolean): void => {
    const stats = perModel.get(job.model) as FluidModelStats;
    if (satisfied) stats.satisfied++;
    if (rejected) stats.rejected++;
    o.onQueryEnd?.({
      id: `q${job.index}`,
      index: job.index,
      model: job.model,
      outcome: rejected ? 'rejected' : 'completed',
      ...(rejected ? { reason: 'deadline_unreachable' as const } : {}),
      arrivalMs: job.arrivalMs,
      endMs: nowMs,
      latencyMs: nowMs - job.arrivalMs,
      satisfied,
      // Fluid work is preemptible at any instant: no block to excuse lateness.
      blockOverrunMs: 0,
      longestBlockMs: 0,
    });
  };
  while (next < o.arrivals.length || active.length > 0) {
    while (next < o.arrivals.length && o.arrivals[next].atMs <= nowMs) {
      const a = o.arrivals[next];
      const pred = o.predictors.get(a.model);
      if (!pred) throw new VeltairError('profile_unavailable', `no profile for model '${a.model}'`);
      (perModel.get(a.model) as FluidModelStats).queries++;
      active.push({
        index: next++,
        model: a.model,
        pred,
        arrivalMs: a.atMs,
        deadlineMs: a.atMs + o.qosTargetMs[a.model],
        left: 1,
      });
    }
    active.sort((a, b) => a.deadlineMs - b.deadlineMs || a.index - b.index);
    for (let k = active.length - 1; k >= 0; k--) {
      const job = active[k];
      // A margin keeps a query exactly at the edge from asking for a step of zero length.
      if (nowMs + job.left * aloneMs(job.pred, o.totalCores) < job.deadlineMs - EDGE_MS) continue;
      active.splice(k, 1);
      end(job, false, true);
    }
    const shares = divide(active, o.totalCores, o.division ?? 'fastest');
    let stepMs = next < o.arrivals.length ? o.arrivals[next].atMs - nowMs : Infinity;
    const rates = new Map(shares.map((s) => [s.job, 1 / s.latencyMs]));
    for (const s of shares) stepMs = Math.min(stepMs, s.job.left * s.latencyMs);
    for (const job of active)
      stepMs = Math.min(stepMs, untilHopelessMs(job, rates.get(job) ?? 0, nowMs, o.totalCores));
    if (!Number.isFinite(stepMs)) break; // nothing runs and nothing arrives (cannot happen with cores > 0)
    nowMs += stepMs;
    for (const s of shares) {
      s.job.left -= stepMs / s.latencyMs;
      busyCoreMs += s.cores * stepMs;
    }
    for (let k = active.length - 1; k >= 0; k--) {
      const job = active[k];
      if (job.left > 1e-9) continue;
      active.splice(k, 1);
      end(job, nowMs <= job.deadlineMs + 1e-9, false);
    }
    if (o.stopWhen?.()) break;
  }
  const stats = [...perModel.values()];
  const durationMs = Math.max(1e-9, nowMs - (o.arrivals[0]?.atMs ?? 0));
  return {
    queries: stats.reduce((n, s) => n + s.queries, 0),
    satisfied: stats.reduce((n, s) => n + s.satisfied, 0),
    rejected: stats.reduce((n, s) => n + s.rejected, 0),
    perModel: stats,
    utilization: busyCoreMs / (o.totalCores * durationMs),
    durationMs,
  };
}

/** In deadline order, each job takes its choice under `division` among the free cores. */
function divide(active: readonly Job[], totalCores: number, division: FluidDivision): Share[] {
  const choose = division === 'fastest' ? fastestMs : thriftiestMs;
  const placed: Omit<Share, 'latencyMs'>[] = [];
  let free = totalCores;
  let level = 0;
  for (const job of active) {
    if (free <= 0) break;
    const pick = choose(job.pred, free, level);
    const pressure = pressureOf(job.pred, pick);
    placed.push({ job, cores: pick.cores, version: pick.version, pressure });
    free -= pick.cores;
    level += pressure;
  }
  if (division === 'thrifty') level = widenWithLeftovers(placed, free, level);
  // Each runs at the interference all the others exert (those placed after it included).
  return placed.map((s) => ({
    ...s,
    latencyMs: s.job.pred.blockUs(0, s.job.pred.layerCount, s.version, s.cores, level - s.pressure) / 1000,
  }));
}

/**
 * The thrifty rule's second pass: the `free` cores widen the placed jobs, in deadline order, each
 * up to its fastest count. Returns the interference all of them then exert.
 */
function widenWithLeftovers(placed: Omit<Share, 'latencyMs'>[], free: number, level: number): number {
  for (let k = 0; k < placed.length && free > 0; k++) {
    const s = placed[k];
    const wide = fastestMs(s.job.pred, s.cores + free, level - s.pressure);
    if (wide.cores <= s.cores) continue;
    const pressure = pressureOf(s.job.pred, wide);
    placed[k] = { job: s.job, cores: wide.cores, version: wide.version, pressure };
    free -= wide.cores - s.cores;
    level += pressure - s.pressure;
  }
  return level;
}

/**
 * Core counts worth trying up to `maxCores`: latency between profiled counts is linear in
 * 1 / cores, so the fastest and the least core-time lie at a profiled count or at the limit.
 */
function candidateCores(pred: ProfilePredictor, maxCores: number): number[] {
  return pred.data.coreCounts.filter((c) => c < maxCores).concat(Math.min(maxCores, pred.maxCores));
}

/** A whole-model choice: its version, its cores and its latency at the level asked for. */
interface Choice {
  version: string;
  cores: number;
  latencyMs: number;
}

/** The pressure a whole model exerts on the others under `choice`: its version's per core x its cores. */
function pressureOf(pred: ProfilePredictor, choice: Choice): number {
  return blockPressure(pred, 0, pred.layerCount, choice.version, 'work') * choice.cores;
}

/** The choice (up to `maxCores`) with the least core-time for the whole model at `level`. */
const thriftiestMs = (pred: ProfilePredictor, maxCores: number, level: number): Choice =>
  leastBy(pred, maxCores, level, (c) => c.cores * c.latencyMs);

/** The choice (up to `maxCores`) on which the whole model is fastest at `level`. */
const fastestMs = (pred: ProfilePredictor, maxCores: number, level: number): Choice =>
  leastBy(pred, maxCores, level, (c) => c.latencyMs);

/** Among the candidate core counts, each with its best version at `level`, the one of least `cost` (the fewest cores of equals). */
function leastBy(
  pred: ProfilePredictor,
  maxCores: number,
  level: number,
  cost: (c: Choice) => number,
): Choice {
  const counts = candidateCores(pred, maxCores);
  let best: Choice = { version: pred.versions[0], cores: counts[0], latencyMs: Infinity };
  let bestCost = Infinity;
  for (const cores of counts) {
    const { version, latencyUs } = pred.predict(0, pred.layerCount, cores, level);
    const choice = { version, cores, latencyMs: latencyUs / 1000 };
    if (cost(choice) < bestCost) [best, bestCost] = [choice, cost(choice)];
  }
  return best;
}

/**
 * Time until `job`, progressing at `rate` (share of the model per ms; 0 while it waits), could
 * no longer finish in time even alone on the whole machine.
 */
function untilHopelessMs(job: Job, rate: number, nowMs: number, totalCores: number): number {
  const alone = aloneMs(job.pred, totalCores);
  // now + t + (left - rate t) alone <= deadline - edge, as long as it runs slower than alone.
  if (rate * alone >= 1) return Infinity;
  return Math.max(0, (job.deadlineMs - EDGE_MS - nowMs - job.left * alone) / (1 - rate * alone));
}

const EDGE_MS = 1e-6;
const aloneCache = new WeakMap<ProfilePredictor, Map<number, number>>();

/** `isolatedLatencyMs`, cached: asked for every waiting query at every event. */
function aloneMs(pred: ProfilePredictor, totalCores: number): number {
  let byCores = aloneCache.get(pred);
  if (!byCores) aloneCache.set(pred, (byCores = new Map()));
  let ms = byCores.get(totalCores);
  if (ms === undefined) byCores.set(totalCores, (ms = isolatedLatencyMs(pred, totalCores)));
  return ms;
}
