/**
 * `veltair bench --live`: every policy on the live engine, on this machine, side by side. Each
 * policy gets the same open-loop load and the same peak search; its parameters are tuned on the
 * simulator beforehand (tuning seed), on the profiles the live engine plans with, so baselines
 * run at their best settings too. Beside each live peak: the simulator's prediction of it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelProfileData, ProfilePredictor } from '../profile/index.js';
import { ProfilePredictor as Predictor, nearestRank } from '../profile/index.js';
import {
  NaiveService,
  REPLAN_TOLERANCE,
  costMoved,
  describeScale,
  operatingReport,
  ranOverPlanned,
  updatedCost,
  type InferenceService,
  type OperatingCost,
  type OperatingReport,
  type LiveEngine,
  type LiveRuntime,
  type RuntimeReport,
} from '../runtime/index.js';
import {
  formatParams,
  policySpec,
  type Policy,
  type PolicyParams,
  type PolicyRole,
  type PolicySpec,
} from '../sched/index.js';
import { latencyStats } from '../engine/index.js';
import { FLUID_DIVISIONS, fluidEdf, simulate, type FluidDivision, type ModelStats } from '../sim/index.js';
import { poissonArrivals } from './arrivals.js';
import { round, table, type CurvePoint } from './compare.js';
import { SATISFACTION_TARGET, policyContext, scenarioSimOptions, type Scenario } from './evaluate.js';
import {
  MissTally,
  runLive,
  stopBelow,
  type LiveModelStats,
  type LiveRunOptions,
  type LiveRunResult,
  type LiveScenario,
} from './live.js';
import { upperBound } from './sequential.js';
import { liveMachine, liveScenario, tuneInWorker } from './tuning.js';
import type { IdealReference } from './protocol.js';
import { findPeakAsync, type PeakPoint, type PeakResult } from './peak.js';

/** The live-only baseline with no engine: ORT's defaults, every query at once (runtime/naive.ts). */
export const NAIVE = 'naive';

export interface LiveBenchOptions {
  readonly runtime: LiveRuntime;
  readonly scenario: LiveScenario;
  /** Policy names; `naive` too. */
  readonly policies: readonly string[];
  /** Model files, for the naive baseline's own sessions. */
  readonly models: readonly { name: string; path: string }[];
  /** The compiled layer profiles: the `simulate --profiles local` prediction. */
  readonly compiled: readonly ModelProfileData[];
  /** Seeds of the simulated runs each policy's parameters are chosen on. */
  readonly tuneSeeds: readonly number[];
  /** Parameters given instead of chosen, by policy (to compare two builds under one configuration). */
  readonly params?: ReadonlyMap<string, PolicyParams>;
  /** Peak search resolution. */
  readonly relTolerance: number;
  /** Instead of searching peaks: one run per policy at this rate. */
  readonly rate?: number;
  /** How each policy's 99 % peak is confirmed (none: the search's peak is reported). */
  readonly confirm?: PeakConfirmation;
  /**
   * Queries of each policy's operating run, whose blocks set what its units are planned at
   * (`LiveRuntime.useOperatingCost`); 0: plan with the units as measured at start.
   */
  readonly operatingQueries?: number;
  /** The share of capacity the operating run offers (default `OPERATING_LOAD`). */
  readonly operatingLoad?: number;
  readonly onProgress?: (message: string) => void;
}

/** What the engine itself cost at a run (live engine policies only). */
export interface EngineCost {
  decideUsP50: number;
  decideUsP99: number;
  dispatchToStartUsP50: number;
  dispatchToStartUsP99: number;
  /** Time in `decide` over busy core-time. */
  decideShare: number;
  /** Dispatch-to-start time, times the CPUs waiting, over busy core-time. */
  dispatchShare: number;
  /**
   * CPU time of the engine's thread (`LiveStats.engineThreadCpuMs`: decisions, messages,
   * garbage collection, and in process the load generator) over busy core-time; null where the
   * OS does not tell. Not part of the share above: the time in `decide` is in both.
   */
  engineThreadShare: number | null;
  utilization: number;
  blocksPerQuery: number;
  /**
   * By the CPUs a block ran on: the blocks' run time on their workers over the latency their
   * profile gives them alone (interference 0), time-weighted. Where it is far from 1 at some
   * CPU count, the profiles the policies and the simulator plan with are wrong there.
   */
  ranOverPlanned: Record<string, number>;
}

export interface LivePolicyRow {
  policy: string;
  role: PolicyRole | 'live-baseline';
  params: PolicyParams;
  /** Highest rate with every model >= 99 % (null: none passed): confirmed, where asked. */
  peakQps: number | null;
  /** The highest the search's short runs passed at 99 %, before confirmation. */
  searchedPeakQps: number | null;
  /** Of the confirming run at the peak: the highest model's miss rate bound (`PeakConfirmation`). */
  peakUpperMissRate: number | null;
  /** The same at 95 % (searched). */
  peak95Qps: number | null;
  /** The simulator's prediction of the peak on the live engine's profiles, and on the compiled layer profiles. */
  simPeakQps: number | null;
  simCompiledPeakQps: number | null;
  /** (sim - live) / live, in percent (null when either has no peak). */
  simErrorPct: number | null;
  /**
   * What its operating run's blocks took (`RuntimeReport.operating`; null: the units as measured
   * at start, `LiveBenchOptions.operatingQueries`): the policy, its tuning and the prediction
   * plan with it.
   */
  operating: OperatingReport | null;
  atPeak?: LiveRunResult;
  atReference?: LiveRunResult;
  cost?: EngineCost;
  points: PeakPoint[];
}

export interface LiveBenchReport {
  schema: 'veltair.bench-live/1';
  workload: string;
  cpus: readonly number[];
  weights: Readonly<Record<string, number>>;
  qosTargetMs: Readonly<Record<string, number>>;
  /** CPUs over the mix's mean one-CPU latency (measured whole-model sessions). */
  capacityQps: number;
  /**
   * The idealised reference (`fluidEdf`: preemptive EDF on a fluid machine that is the units as
   * measured at start, no blocks, no dispatch cost, no noise), its 99 % peak found and confirmed
   * as the policies' are, under the better of its two divisions of the CPUs (null: with `rate`,
   * or no rate passed): what the QoS targets and the bursts of arrivals leave to a scheduler
   * free to preempt anywhere at no cost. A reference, not a bound (greedy EDF is not optimal).
   */
  ideal: IdealReference | null;
  queriesPerRun: number;
  /** How 99 % peaks were confirmed (null: they were not). */
  confirm: PeakConfirmation | null;
  runtime: RuntimeReport;
  bestBaseline: string | null;
  referenceQps: number | null;
  /** The one rate every policy ran at, instead of a peak search (null: peaks were searched). */
  rateQps: number | null;
  rows: LivePolicyRow[];
  curve: CurvePoint[];
}

/** CPUs over the mix's mean latency of one query on one CPU (best version), from the measured profiles. */
export function capacityQps(runtime: LiveRuntime, weights: Readonly<Record<string, number>>): number {
  let meanUs = 0;
  for (const [m, w] of Object.entries(weights)) {
    const p = runtime.model(m).measuredPredictor;
    meanUs += w * p.predict(0, p.layerCount, 1, 0).latencyUs;
  }
  return (runtime.pool.cpus.length * 1e6) / meanUs;
}

function engineCost(engine: LiveEngine, predictors: ReadonlyMap<string, ProfilePredictor>): EngineCost {
  const s = engine.stats();
  const decide = Float64Array.from(s.engine.decideMs).sort();
  const d2s = Float64Array.from(s.blocks.map((b) => b.startMs - b.dispatchMs)).sort();
  const busy = s.engine.busyCoreMs || 1;
  const waitCoreMs = s.blocks.reduce((sum, b) => sum + (b.startMs - b.dispatchMs) * b.cpus.length, 0);
  const completed = [...s.engine.latencies.values()].reduce((n, l) => n + l.length, 0);
  return {
    decideUsP50: round(nearestRank(decide, 0.5) * 1000, 1),
    decideUsP99: round(nearestRank(decide, 0.99) * 1000, 1),
    dispatchToStartUsP50: round(nearestRank(d2s, 0.5) * 1000, 1),
    dispatchToStartUsP99: round(nearestRank(d2s, 0.99) * 1000, 1),
    decideShare: round(decide.reduce((a, b) => a + b, 0) / busy, 4),
    dispatchShare: round(waitCoreMs / busy, 4),
    engineThreadShare: s.engineThreadCpuMs === null ? null : round(s.engineThreadCpuMs / busy, 4),
    utilization: round(busy / (s.engine.nowMs * engine.totalCpus), 3),
    blocksPerQuery: round(completed > 0 ? s.engine.blocks / completed : 0, 2),
    ranOverPlanned: ranOverPlanned(s.blocks, predictors),
  };
}

/**
 * How a searched peak is confirmed: one longer run, on arrivals of its own, must hold every
 * model at 99 % as the search's runs must. A rate that fails is tried again `CONFIRM_STEP`
 * lower. Beside it, how sure the run is: the highest one-sided Clopper-Pearson upper bound of a
 * model's miss rate at confidence 1 - `familyAlpha` (split over the models).
 */
export interface PeakConfirmation {
  readonly queries: number;
  readonly familyAlpha: number;
  /** Seed of the confirming runs' arrivals (the search's runs use another). */
  readonly seed: number;
  /** Seed of the second try at a rate whose 99 % search run failed (see `searchLivePeaks`). */
  readonly retrySeed: number;
}

/** Each retry of a confirmation is this much lower than the rate that failed. */
export const CONFIRM_STEP = 0.9;

/** What a peak search asks of one run. */
export type SearchRun<R> = (qps: number, opts: LiveRunOptions) => Promise<R>;

/**
 * The peak rates at 99 % and at 95 % satisfaction of every model: `run` runs once at a rate (and
 * may stop once the run can no longer pass); runs that passed are reused. Below `minQps` a
 * passing run takes minutes: the search reports no peak instead.
 *
 * A first run at half the start rate is not counted: a process's first minute under load (code
 * not yet optimised, the heap's first full collections, malloc growing its arenas) belongs to no
 * rate the search measures.
 *
 * Short runs tell a rate that clearly fails from one that may pass, but the highest of several
 * noisy passes is biased upwards: with `confirm`, the 99 % peak is the highest rate, from the
 * searched one down, whose confirming run passes (0 when none above `minQps` does).
 *
 * A short run also fails rates that hold: a model with 300 queries in a run fails it with a 4th
 * miss, which a true miss rate of 0.5 % gives in 1 run of 15, and one false failure ends the
 * bisection's climb. With `confirm`, a rate whose 99 % search run fails is therefore run once
 * more on arrivals of its own (`retrySeed`) and fails only if that run fails too; what that
 * lets through too high, the confirmation steps down from. The 95 % search, never confirmed,
 * takes one run per rate.
 */
export async function searchLivePeaks<R extends { result: LiveRunResult }>(
  run: SearchRun<R>,
  opts: { startQps: number; minQps: number; relTolerance: number; confirm?: PeakConfirmation },
): Promise<{
  p99: PeakResult;
  p95: PeakResult;
  /** The 99 % peak the short runs found, before confirmation. */
  searchedQps: number;
  /** Every run of both searches and of the confirmation, rounded for reports. */
  points: PeakPoint[];
  /** The run that shows the 99 % peak: its confirming run, or its search run. */
  atPeak?: R;
  /** Of the confirming run at the peak: the highest model's miss rate bound (`PeakConfirmation`). */
  upperMissRate?: number;
}> {
  await run(opts.startQps / 2, {});
  const passed = new Map<number, R>();
  const measure = (target: number) => async (qps: number) => {
    const known = passed.get(qps);
    if (known) return known.result.minSatisfaction;
    const r = await run(qps, { missesAllowed: stopBelow(target) });
    if (r.result.complete) passed.set(qps, r);
    return r.result.minSatisfaction;
  };
  const retried: PeakPoint[] = [];
  const measureTwice = (target: number, retrySeed: number) => async (qps: number) => {
    const first = await measure(target)(qps);
    if (first >= target) return first;
    retried.push({ qps, satisfaction: first, passed: false });
    const r = await run(qps, { missesAllowed: stopBelow(target), seed: retrySeed });
    if (r.result.complete) passed.set(qps, r);
    return r.result.minSatisfaction;
  };
  const measure99 = opts.confirm
    ? measureTwice(SATISFACTION_TARGET, opts.confirm.retrySeed)
    : measure(SATISFACTION_TARGET);
  const searched = await findPeakAsync(measure99, {
    target: SATISFACTION_TARGET,
    startQps: opts.startQps,
    relTolerance: opts.relTolerance,
    growth: 1.5,
    minQps: opts.minQps,
  });
  const p95 = await findPeakAsync(measure(0.95), {
    target: 0.95,
    startQps: searched.peakQps > 0 ? searched.peakQps * 1.25 : opts.startQps,
    relTolerance: opts.relTolerance,
    growth: 1.25,
    minQps: opts.minQps,
  });
  const confirmed =
    opts.confirm && searched.peakQps > 0
      ? await confirmPeak(run, searched.peakQps, opts.minQps, opts.confirm)
      : {
          points: [],
          peakQps: searched.peakQps,
          atPeak: passed.get(searched.peakQps),
          upperMissRate: undefined,
        };
  const p99 = { ...searched, peakQps: confirmed.peakQps, points: [...searched.points, ...confirmed.points] };
  const points = [...retried, ...p99.points, ...p95.points].map((p) => ({
    ...p,
    qps: round(p.qps, 2),
    satisfaction: round(p.satisfaction, 4),
  }));
  return {
    p99,
    p95,
    searchedQps: searched.peakQps,
    points,
    atPeak: confirmed.atPeak,
    upperMissRate: confirmed.upperMissRate,
  };
}

/** From `fromQps` down by `CONFIRM_STEP`: the first rate whose confirming run passes. */
async function confirmPeak<R extends { result: LiveRunResult }>(
  run: SearchRun<R>,
  fromQps: number,
  minQps: number,
  confirm: PeakConfirmation,
): Promise<{ peakQps: number; points: PeakPoint[]; atPeak?: R; upperMissRate?: number }> {
  const points: PeakPoint[] = [];
  for (let qps = fromQps; qps >= minQps; qps *= CONFIRM_STEP) {
    const r = await run(qps, {
      queries: confirm.queries,
      seed: confirm.seed,
      missesAllowed: stopBelow(SATISFACTION_TARGET),
    });
    const ok = r.result.complete && r.result.minSatisfaction >= SATISFACTION_TARGET;
    points.push({ qps, satisfaction: r.result.minSatisfaction, passed: ok });
    if (ok) return { peakQps: qps, points, atPeak: r, upperMissRate: upperMissRate(r.result, confirm) };
  }
  return { peakQps: 0, points };
}

/** The highest of the models' one-sided upper bounds on their miss rate, family-wise. */
function upperMissRate(result: LiveRunResult, confirm: PeakConfirmation): number {
  const alpha = confirm.familyAlpha / result.perModel.length;
  return Math.max(...result.perModel.map((m) => upperBound(m.queries - m.satisfied, m.queries, alpha)));
}

/** One run of a peak search, as the benches report it while they search. */
export function runLine(qps: number, result: LiveRunResult): string {
  const stopped = result.complete ? '' : 'stopped, ';
  const stolen = result.stolenShare === null ? '' : `; host took ${(100 * result.stolenShare).toFixed(1)} %`;
  return `${qps.toFixed(1)} QPS: ${stopped}lowest model ${(100 * result.minSatisfaction).toFixed(1)} % (${(result.durationMs / 1000).toFixed(0)} s${stolen})`;
}

/**
 * A run during which the hypervisor took more than this share of the CPUs' time measured the
 * host as much as the service, and is run again (decision 0016). Quiet stretches of the
 * project's VMs lose 0-1 %; the bouts that doubled block times took 14-54 %.
 */
export const MAX_STOLEN_SHARE = 0.02;
/**
 * How long the bench waits before each repeat of a run the host disturbed; the last run stands.
 * Bouts of steal last from seconds to minutes and come after stretches of heavy load, so a repeat
 * started at once meets the same bout (docs/experiments/2026-12-07-stolen-time.md).
 */
export const STOLEN_PAUSES_MS: readonly number[] = [30_000, 90_000];

/**
 * `run`, run again (same rate, same arrivals) after a pause while the host took more than
 * `MAX_STOLEN_SHARE` of the CPUs' time, whatever the run's outcome, so that the rule favours no
 * policy.
 */
export function againWhenStolen<R extends { result: LiveRunResult }>(
  run: SearchRun<R>,
  onAgain: (message: string) => void,
  pause: (ms: number) => Promise<void> = sleep,
): SearchRun<R> {
  return async (qps, opts) => {
    for (let attempt = 0; ; attempt++) {
      const r = await run(qps, opts);
      const stolen = r.result.stolenShare;
      const pauseMs = STOLEN_PAUSES_MS[attempt];
      if (stolen === null || stolen <= MAX_STOLEN_SHARE || pauseMs === undefined) return r;
      onAgain(
        `${qps.toFixed(1)} QPS: the host took ${(100 * stolen).toFixed(1)} % of the CPUs' time (over ${100 * MAX_STOLEN_SHARE} %): run again in ${pauseMs / 1000} s`,
      );
      await pause(pauseMs);
    }
  };
}

/** A service for one run of `policy` (a fresh engine per run: fresh queues and accounting). */
type ServiceFor = () => Promise<{ service: InferenceService; engine?: LiveEngine }>;

export async function benchLive(opts: LiveBenchOptions): Promise<LiveBenchReport> {
  const { runtime, scenario: scn } = opts;
  const progress = opts.onProgress ?? (() => {});
  const capacity = capacityQps(runtime, scn.weights);
  const compiled = new Map(opts.compiled.map((p) => [p.model, new Predictor(p)]));
  runtime.useOperatingCost(null);
  const ideal = opts.rate === undefined ? await idealLivePeak(runtime, scn, capacity, opts) : null;
  if (ideal) progress(`idealised preemptive EDF: ${ideal.peakQps} QPS (${ideal.division} division)`);
  let naive: NaiveService | undefined;
  const rows: LivePolicyRow[] = [];
  /** Each policy's run, kept for the runs at the best baseline's peak. */
  const runs = new Map<string, SearchRun<{ result: LiveRunResult; cost?: EngineCost }>>();
  try {
    for (const name of opts.policies) {
      const say = (m: string) => progress(`${name}: ${m}`);
      const spec = name === NAIVE ? undefined : policySpec(name);
      const given = opts.params?.get(name);
      const tuned = async () => {
        if (!given) progress(`${name}: tuning on the simulator`);
        return simulatedRow(name, runtime, scn, runtime.predictors, compiled, opts, capacity);
      };
      runtime.useOperatingCost(null);
      let operatingCost =
        spec && opts.operatingQueries
          ? await operatingCostFor(spec, given ?? spec.defaults, opts, capacity, say)
          : null;
      runtime.useOperatingCost(operatingCost);
      let row = await tuned();
      // The defaults' blocks may use other CPU counts than the tuned parameters' do, and
      // parameters tuned for one cost may run blocks that cost another: read again until it holds.
      for (let reads = 1; spec && operatingCost && !given && reads < OPERATING_READS; reads++) {
        const read = await operatingCostFor(spec, row.params, opts, capacity, say);
        const next = updatedCost(operatingCost, read);
        if (!costMoved(operatingCost, next)) {
          say(`the tuned parameters' blocks cost within ${100 * REPLAN_TOLERANCE} % of the plan`);
          break;
        }
        operatingCost = next;
        runtime.useOperatingCost(operatingCost);
        say(`its units are planned at what the tuned parameters' blocks cost`);
        row = await tuned();
      }
      const planned = runtime.predictors;
      const operating = operatingReport(operatingCost);
      const serviceFor: ServiceFor = spec
        ? async () => {
            runtime.useOperatingCost(operatingCost);
            const engine = engineFor(runtime, scn, spec, row.params);
            return { service: engine, engine };
          }
        : async () => {
            naive ??= await NaiveService.start({
              models: opts.models.map((m) => ({
                ...m,
                inputs: runtime.model(m.name).inputs,
                outputs: runtime.model(m.name).outputNames,
              })),
              qosTargetMs: scn.qosTargetMs,
              maxConcurrent: 4 * runtime.pool.cpus.length,
            });
            return { service: naive };
          };
      const run = againWhenStolen(async (qps: number, runOpts: LiveRunOptions = {}) => {
        runtime.collectHeap();
        const { service, engine } = await serviceFor();
        const result = await runLive(service, scn, qps, runOpts);
        say(runLine(qps, result));
        const cost = engine ? engineCost(engine, planned) : undefined;
        if (engine) await engine.close();
        return { result, cost };
      }, say);
      runs.set(name, run);
      if (opts.rate !== undefined) {
        const { result, cost } = await run(opts.rate, {});
        rows.push({ ...row, operating, atPeak: result, atReference: result, cost });
        continue;
      }
      const start = Math.min(row.simPeakQps ?? capacity / 4, capacity);
      const { p99, p95, searchedQps, points, atPeak, upperMissRate } = await searchLivePeaks(run, {
        startQps: start,
        minQps: capacity / 16,
        relTolerance: opts.relTolerance,
        confirm: opts.confirm,
      });
      rows.push({
        ...row,
        operating,
        peakQps: p99.peakQps > 0 ? round(p99.peakQps, 1) : null,
        searchedPeakQps: searchedQps > 0 ? round(searchedQps, 1) : null,
        peakUpperMissRate: upperMissRate === undefined ? null : round(upperMissRate, 4),
        peak95Qps: p95.peakQps > 0 ? round(p95.peakQps, 1) : null,
        simErrorPct:
          row.simPeakQps !== null && p99.peakQps > 0
            ? round((100 * (row.simPeakQps - p99.peakQps)) / p99.peakQps, 1)
            : null,
        atPeak: atPeak?.result,
        cost: atPeak?.cost,
        points,
      });
    }
    const reference = bestBaseline(rows);
    const referenceQps = reference?.peakQps ?? null;
    if (opts.rate === undefined && referenceQps !== null) {
      for (const row of rows) {
        progress(`${row.policy}: at the best baseline's peak, ${referenceQps} QPS`);
        const run = runs.get(row.policy);
        if (run) row.atReference = (await run(referenceQps, {})).result;
      }
    }
    return {
      schema: 'veltair.bench-live/1',
      workload: scn.workload,
      cpus: runtime.pool.cpus,
      weights: scn.weights,
      qosTargetMs: scn.qosTargetMs,
      capacityQps: round(capacity, 1),
      ideal,
      queriesPerRun: scn.queries,
      confirm: opts.confirm ?? null,
      runtime: runtime.report,
      bestBaseline: reference?.policy ?? null,
      referenceQps,
      rateQps: opts.rate ?? null,
      rows,
      curve: rows.flatMap((r) =>
        r.points.map((p) => ({
          workload: `${scn.workload} (live)`,
          policy: r.policy,
          qps: p.qps,
          satisfaction: p.satisfaction,
        })),
      ),
    };
  } finally {
    await naive?.close();
    runtime.useOperatingCost(null);
  }
}

/** A fresh engine running `spec` with `params`, planning with the runtime's profiles as they are now. */
function engineFor(
  runtime: LiveRuntime,
  scn: LiveScenario,
  spec: PolicySpec,
  params: PolicyParams,
): LiveEngine {
  const ctx = policyContext(liveScenario(liveMachine(runtime), scn, runtime.predictors, scn.seed));
  return runtime.engine({ policy: spec.create(params, ctx), qosTargetMs: scn.qosTargetMs });
}

/** The share of capacity a policy's operating run offers: about where block-scheduling peaks lie on 2 CPUs. */
export const OPERATING_LOAD = 0.3;

/**
 * Operating runs a tuned policy gets at most: the defaults', then the tuned parameters' until
 * their cost holds within `REPLAN_TOLERANCE`, each followed by a tuning where it did not.
 */
export const OPERATING_READS = 3;

/** The operating run's arrivals: a seed of their own, apart from the search's, retries' and confirmation's. */
const OPERATING_SEED_OFFSET = 3000;

/**
 * What the blocks of `spec` with `params` cost in operation (`LiveRuntime.operatingCostOf`):
 * those of one run of `opts.operatingQueries` queries at `opts.operatingLoad` of capacity, on
 * arrivals of their own, planned as the runtime plans now. `benchLive` reads it first with the
 * parameters given or else the policy's defaults (its tuning needs a cost first), then with the
 * tuned parameters.
 */
async function operatingCostFor(
  spec: PolicySpec,
  params: PolicyParams,
  opts: LiveBenchOptions,
  capacity: number,
  say: (m: string) => void,
): Promise<OperatingCost> {
  const { runtime, scenario: scn } = opts;
  say(`what its blocks cost in operation (${opts.operatingQueries} queries, ${formatParams(params)})`);
  const measure = againWhenStolen(async (qps: number, runOpts: LiveRunOptions) => {
    runtime.collectHeap();
    const engine = engineFor(runtime, scn, spec, params);
    try {
      const result = await runLive(engine, scn, qps, runOpts);
      say(runLine(qps, result));
      return { result, cost: runtime.operatingCostOf(engine.stats().blocks) };
    } finally {
      await engine.close();
    }
  }, say);
  const { cost } = await measure(capacity * (opts.operatingLoad ?? OPERATING_LOAD), {
    queries: opts.operatingQueries,
    seed: scn.seed + OPERATING_SEED_OFFSET,
  });
  say(
    `its blocks cost ${describeScale(cost.scale) || 'too few blocks on any CPU count to tell'}, spread ${cost.spread?.toFixed(3) ?? '-'}`,
  );
  return cost;
}

function bestBaseline(rows: readonly LivePolicyRow[]): LivePolicyRow | undefined {
  return rows
    .filter((r) => r.role === 'baseline' || r.role === 'live-baseline')
    .reduce<LivePolicyRow | undefined>((b, r) => ((r.peakQps ?? 0) > (b?.peakQps ?? 0) ? r : b), undefined);
}

/**
 * A row with the policy's simulator-tuned parameters and the simulator's predicted peaks, each
 * found as the live peak is: the same search, retries and confirmation (`searchLivePeaks`), on
 * simulated runs of the same arrivals. A prediction decided by another rule (one 1000-query run
 * per rate, no confirmation) is another quantity: its distance to the live peak would mix that
 * rule's luck into the machine model's error.
 */
async function simulatedRow(
  name: string,
  runtime: LiveRuntime,
  scn: LiveScenario,
  live: ReadonlyMap<string, ProfilePredictor>,
  compiled: ReadonlyMap<string, ProfilePredictor>,
  opts: LiveBenchOptions,
  capacity: number,
): Promise<Omit<LivePolicyRow, 'operating'>> {
  const base = {
    policy: name,
    peakQps: null,
    searchedPeakQps: null,
    peakUpperMissRate: null,
    peak95Qps: null,
    simErrorPct: null,
    points: [],
  };
  if (name === NAIVE)
    return { ...base, role: 'live-baseline', params: {}, simPeakQps: null, simCompiledPeakQps: null };
  const spec = policySpec(name);
  const params = opts.params?.get(name) ?? (await tuneOnEveryCpu(name, runtime, scn, opts.tuneSeeds));
  const predict = async (predictors: ReadonlyMap<string, ProfilePredictor>) => {
    if (![...Object.keys(scn.weights)].every((m) => predictors.has(m))) return null;
    const sim = liveScenario(liveMachine(runtime), scn, predictors, scn.seed);
    const makePolicy = () => spec.create(params, policyContext(sim));
    const { p99 } = await searchLivePeaks(simulatedRun(sim, makePolicy), {
      startQps: capacity / 4,
      minQps: capacity / 16,
      relTolerance: opts.relTolerance,
      confirm: opts.confirm,
    });
    return p99.peakQps > 0 ? round(p99.peakQps, 1) : null;
  };
  return {
    ...base,
    role: spec.role,
    params,
    simPeakQps: await predict(live),
    simCompiledPeakQps: await predict(compiled),
  };
}

/**
 * `name`'s parameters chosen for the units the runtime plans with now (`tuneForLive`), on a
 * thread per CPU: nothing else runs meanwhile.
 */
async function tuneOnEveryCpu(
  name: string,
  runtime: LiveRuntime,
  scn: LiveScenario,
  seeds: readonly number[],
): Promise<PolicyParams> {
  const { workload, weights, qosTargetMs, queries } = scn;
  const tuning = tuneInWorker({
    policy: name,
    machine: liveMachine(runtime),
    mix: { workload, weights, qosTargetMs, queries },
    profiles: Object.keys(weights).map((m) => runtime.model(m).profile),
    seeds,
    threads: runtime.pool.cpus.length,
  });
  return (await tuning.result).params;
}

/**
 * A simulated run standing in for a live one: the same arrivals (rate, count, seed), the same
 * stop once a model has missed more than it may, and the result in the live run's terms.
 */
export function simulatedRun(scn: Scenario, makePolicy: () => Policy): SearchRun<{ result: LiveRunResult }> {
  return async (qps, opts) => {
    const seed = opts.seed ?? scn.seed;
    const arrivals = poissonArrivals(scn.weights, qps, opts.queries ?? scn.queries, seed);
    const tally = new MissTally(arrivals, opts.missesAllowed);
    let stopped = false;
    const r = simulate({
      ...scenarioSimOptions(scn, makePolicy(), arrivals, seed),
      onQueryEnd: (end) => {
        if (!end.satisfied && tally.miss(end.model)) stopped = true;
      },
      stopWhen: () => stopped,
    });
    const totals = {
      satisfied: r.satisfied,
      meanLatencyMs: r.meanLatencyMs,
      p99LatencyMs: r.p99LatencyMs,
      durationMs: r.durationMs,
    };
    return { result: asLiveResult(qps, arrivals.length, tally, stopped, r.perModel, totals) };
  };
}

/** The idealised reference's 99 % peak on the runtime's units as they are now: the better division's. */
async function idealLivePeak(
  runtime: LiveRuntime,
  scn: LiveScenario,
  capacity: number,
  opts: Pick<LiveBenchOptions, 'relTolerance' | 'confirm'>,
): Promise<IdealReference | null> {
  const sim = liveScenario(liveMachine(runtime), scn, runtime.predictors, scn.seed);
  let best: IdealReference | null = null;
  for (const division of FLUID_DIVISIONS) {
    const { p99 } = await searchLivePeaks(idealisedRun(sim, division), {
      startQps: capacity / 4,
      minQps: capacity / 16,
      relTolerance: opts.relTolerance,
      confirm: opts.confirm,
    });
    if (p99.peakQps > (best?.peakQps ?? 0)) best = { peakQps: p99.peakQps, division };
  }
  return best && { ...best, peakQps: round(best.peakQps, 1) };
}

/** As `simulatedRun`, on the idealised reference (`fluidEdf`) instead of a policy on the simulator. */
export function idealisedRun(scn: Scenario, division: FluidDivision): SearchRun<{ result: LiveRunResult }> {
  return async (qps, opts) => {
    const seed = opts.seed ?? scn.seed;
    const arrivals = poissonArrivals(scn.weights, qps, opts.queries ?? scn.queries, seed);
    const tally = new MissTally(arrivals, opts.missesAllowed);
    const ends = new Map<string, { satisfied: number; rejected: number; latencyMs: number[] }>();
    let stopped = false;
    const r = fluidEdf({
      totalCores: scn.totalCores,
      predictors: scn.predictors,
      qosTargetMs: scn.qosTargetMs,
      arrivals,
      division,
      onQueryEnd: (end) => {
        let e = ends.get(end.model);
        if (!e) ends.set(end.model, (e = { satisfied: 0, rejected: 0, latencyMs: [] }));
        if (end.outcome === 'rejected') e.rejected++;
        else e.latencyMs.push(end.latencyMs);
        if (end.satisfied) e.satisfied++;
        else if (tally.miss(end.model)) stopped = true;
      },
      stopWhen: () => stopped,
    });
    const perModel = [...ends].map(([model, e]): RanModel => {
      const l = latencyStats(e.latencyMs);
      return {
        model,
        satisfied: e.satisfied,
        rejected: e.rejected,
        meanMs: l.mean,
        p50Ms: l.p50,
        p99Ms: l.p99,
      };
    });
    const all = latencyStats([...ends.values()].flatMap((e) => e.latencyMs));
    const totals = {
      satisfied: r.satisfied,
      meanLatencyMs: all.mean,
      p99LatencyMs: all.p99,
      durationMs: r.durationMs,
    };
    return { result: asLiveResult(qps, arrivals.length, tally, stopped, perModel, totals) };
  };
}

type RanModel = Pick<ModelStats, 'model' | 'satisfied' | 'rejected' | 'meanMs' | 'p50Ms' | 'p99Ms'>;

/** A simulated run's counts in a live run's terms, queries never run counted per `MissTally`. */
function asLiveResult(
  qps: number,
  queries: number,
  tally: MissTally,
  stopped: boolean,
  ran: readonly RanModel[],
  totals: { satisfied: number; meanLatencyMs: number; p99LatencyMs: number; durationMs: number },
): LiveRunResult {
  const byModel = new Map(ran.map((m) => [m.model, m]));
  const perModel = tally.models().map((model): LiveModelStats => {
    const m = byModel.get(model);
    const satisfied = m?.satisfied ?? 0;
    return {
      model,
      queries: tally.planned(model),
      satisfied,
      rejected: m?.rejected ?? 0,
      failed: 0,
      satisfaction: tally.satisfaction(model, satisfied, stopped),
      meanMs: m?.meanMs ?? 0,
      p50Ms: m?.p50Ms ?? 0,
      p99Ms: m?.p99Ms ?? 0,
    };
  });
  return {
    qps,
    complete: !stopped,
    queries,
    ...totals,
    minSatisfaction: Math.min(...perModel.map((m) => m.satisfaction)),
    perModel,
    submitLateP99Ms: 0,
    checked: 0,
    stolenShare: null,
  };
}

export const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined ? '-' : x.toFixed(digits);

/** The human table: each policy's live peaks, the simulator's prediction, and latency at the reference rate. */
export function formatLiveBench(r: LiveBenchReport): string {
  const ideal = r.ideal
    ? `; idealised preemptive EDF ${r.ideal.peakQps} QPS (${r.ideal.division} division, on the units as measured, no dispatch cost)`
    : '';
  const summary = `workload ${r.workload} on CPUs ${r.cpus.join(',')}; capacity ${r.capacityQps} QPS (CPUs / mean 1-CPU latency)${ideal}; QoS targets ${Object.entries(
    r.qosTargetMs,
  )
    .map(([m, t]) => `${m} ${t} ms`)
    .join(', ')}; ${r.queriesPerRun} queries per search run${confirmation(r.confirm)}`;
  const body = r.rateQps === null ? peakTable(r) : rateTable(r);
  return [
    summary,
    body,
    '',
    'engine cost (us; share = decide + dispatch-to-start over busy core-time; engine thread = its CPU time over busy core-time)',
    costTable(r),
  ].join('\n');
}

/** How peaks were confirmed, for a report's heading. */
export function confirmation(c: PeakConfirmation | null): string {
  if (!c) return '; peaks not confirmed';
  return `; a rate whose 99 % search run fails is tried once more on other arrivals; a 99 % peak is confirmed by a ${c.queries}-query run on arrivals of its own ('miss <= %': the least satisfied model's miss rate at ${100 * (1 - c.familyAlpha)} % confidence in it)`;
}

/** One row per policy at the one offered rate: satisfaction of each model, latency. */
function rateTable(r: LiveBenchReport): string {
  const models = Object.keys(r.weights);
  const header = [
    'policy',
    'QPS',
    'lowest model %',
    ...models.map((m) => `${m} %`),
    'mean ms',
    'p99 ms',
    'params',
  ];
  const rows = r.rows.map((x) => {
    const run = x.atPeak;
    const pct = (v: number | undefined) => fmt(v === undefined ? undefined : 100 * v, 1);
    return [
      x.policy,
      fmt(run?.qps),
      pct(run?.minSatisfaction),
      ...models.map((m) => pct(run?.perModel.find((s) => s.model === m)?.satisfaction)),
      fmt(run?.meanLatencyMs, 2),
      fmt(run?.p99LatencyMs, 2),
      formatParams(x.params),
    ];
  });
  return table(header, rows);
}

/** One row per policy: its live peaks, the simulator's prediction, and latency at the reference rate. */
function peakTable(r: LiveBenchReport): string {
  const best = r.bestBaseline ? r.rows.find((x) => x.policy === r.bestBaseline) : undefined;
  const naive = r.rows.find((x) => x.policy === NAIVE);
  const ratio = (x: number | null, to: number | null | undefined) =>
    x !== null && to ? (x / to).toFixed(2) : '-';
  const header = [
    'policy',
    'role',
    'peak QPS',
    'searched',
    'miss <= %',
    'x best base',
    'x naive',
    'x capacity',
    'x ideal',
    'peak@95%',
    'x naive @95%',
    'sim peak',
    'sim err %',
    'sim (layers)',
    `mean ms @${fmt(r.referenceQps)}`,
    'p99 ms',
    'params',
  ];
  const rows = r.rows.map((x) => [
    x.policy + (x.policy === r.bestBaseline ? ' *' : ''),
    x.role,
    x.peakQps === null ? 'none' : x.peakQps.toFixed(1),
    x.searchedPeakQps === null ? 'none' : x.searchedPeakQps.toFixed(1),
    fmt(x.peakUpperMissRate === null ? null : 100 * x.peakUpperMissRate, 2),
    ratio(x.peakQps, best?.peakQps),
    ratio(x.peakQps, naive?.peakQps),
    ratio(x.peakQps, r.capacityQps),
    ratio(x.peakQps, r.ideal?.peakQps),
    x.peak95Qps === null ? 'none' : x.peak95Qps.toFixed(1),
    ratio(x.peak95Qps, naive?.peak95Qps),
    fmt(x.simPeakQps),
    fmt(x.simErrorPct),
    fmt(x.simCompiledPeakQps),
    fmt(x.atReference?.meanLatencyMs, 2),
    fmt(x.atReference?.p99LatencyMs, 2),
    formatParams(x.params),
  ]);
  return ["a peak holds every model at >= 99 % ('none': no rate did)", table(header, rows)].join('\n');
}

/** The engine's own cost in each policy's run at its peak (or at the one rate). */
function costTable(r: LiveBenchReport): string {
  const rows = r.rows
    .filter((x) => x.cost)
    .map((x) => {
      const c = x.cost as EngineCost;
      return [
        x.policy,
        fmt(x.atPeak?.qps),
        c.decideUsP50.toFixed(1),
        c.decideUsP99.toFixed(1),
        c.dispatchToStartUsP50.toFixed(1),
        c.dispatchToStartUsP99.toFixed(1),
        (100 * (c.decideShare + c.dispatchShare)).toFixed(2),
        c.engineThreadShare === null ? '-' : (100 * c.engineThreadShare).toFixed(2),
        c.utilization.toFixed(2),
        c.blocksPerQuery.toFixed(1),
        byCpus(c.ranOverPlanned),
        x.operating
          ? `${byCpus(x.operating.scale) || '-'}; spread ${x.operating.spread?.toFixed(2) ?? '-'}`
          : 'as measured',
      ];
    });
  const header = [
    'policy',
    'QPS',
    'decide p50',
    'decide p99',
    'dispatch p50',
    'dispatch p99',
    'share %',
    'engine thread %',
    'util',
    'blocks/q',
    'ran / planned by CPUs',
    'units planned at',
  ];
  return table(header, rows);
}

/** `{ '1': 0.95, '2': 1.2 }` as `1: 0.95, 2: 1.20`. */
const byCpus = (byCount: Record<string, number>) =>
  Object.entries(byCount)
    .map(([cpus, ratio]) => `${cpus}: ${ratio.toFixed(2)}`)
    .join(', ');
