/**
 * Choosing a policy's parameters for the models a live engine serves: a grid search on the
 * simulator, with the machine as the runtime measured it (its CPUs, its profiles, its round trip
 * per block, its run-to-run spread), over several arrival seeds. `veltair bench --live` and
 * `veltair serve` choose this one way, so that the server and the in-process bench run one
 * configuration. The job is plain data, so that a server can hand it to a worker thread and go on
 * serving meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import type { LiveRuntime } from '../runtime/index.js';
import { policySpec, type PolicyParams } from '../sched/index.js';
import { DEFAULT_NOISE } from '../sim/index.js';
import { VeltairError } from '../errors/index.js';
import { gridPoints, peakOf, type Scenario } from './evaluate.js';

/** The machine a live runtime measured, as the simulator needs it. */
export interface LiveMachine {
  readonly totalCores: number;
  /** A block's round trip beyond its sessions' runs (us). */
  readonly dispatchOverheadUs: number;
  /** How much a block's run time varies around its unit's latency (log-space standard deviation). */
  readonly latencySpread: number;
}

/**
 * The machine as `runtime` measured it: the spread of blocks in operation where it plans with
 * their cost (decision 0017), else of its units' runs at start.
 */
export function liveMachine(runtime: LiveRuntime): LiveMachine {
  return {
    totalCores: runtime.pool.cpus.length,
    dispatchOverheadUs: runtime.report.dispatchOverheadUs,
    latencySpread: runtime.report.operating?.spread ?? runtime.report.latencySpread,
  };
}

/** The load the parameters are chosen for. */
export interface LiveMix {
  readonly workload: string;
  readonly weights: Readonly<Record<string, number>>;
  readonly qosTargetMs: Readonly<Record<string, number>>;
  /** Queries per simulated run. */
  readonly queries: number;
}

/** Queries per simulated run when a server chooses its parameters: the live bench's default. */
export const TUNING_QUERIES = 1000;
/**
 * The seeds of the arrivals parameters are chosen on: the live bench's `--tune-seeds` default.
 * One seed's 1000-query runs move a grid point's peak by a fifth, while the best points of a
 * grid lie within a tenth of each other, so a choice on one seed is mostly that seed's luck: on
 * arrivals they were not chosen on, the points chosen on eight seeds reached 7-13 % more than
 * those chosen on one (docs/experiments/2026-12-06-json-tensors-and-tuning-seeds.md).
 */
export const TUNING_SEEDS: readonly number[] = [101, 102, 103, 104, 105, 106, 107, 108];
/**
 * How long a server spends choosing before it takes the best point so far. The light mix takes
 * about 20 s on two CPUs; models of microseconds under targets of seconds queue thousands
 * of queries in every overloaded run and could take minutes.
 */
export const TUNING_BUDGET_MS = 30_000;

/** The simulated scenario that stands for a live engine: its profiles, its CPUs, its expiry. */
export function liveScenario(
  machine: LiveMachine,
  mix: LiveMix,
  predictors: ReadonlyMap<string, ProfilePredictor>,
  seed: number,
): Scenario {
  return {
    ...mix,
    totalCores: machine.totalCores,
    predictors,
    seed,
    dispatchOverheadUs: machine.dispatchOverheadUs,
    noise: { ...DEFAULT_NOISE, soloSigma: machine.latencySpread },
    expireLate: true,
  };
}

/** Everything choosing parameters for a live engine reads: plain data. */
export interface LiveTuningJob {
  readonly policy: string;
  readonly machine: LiveMachine;
  readonly mix: LiveMix;
  /** The served models' profiles as the runtime plans with them. */
  readonly profiles: readonly ModelProfileData[];
  readonly seeds: readonly number[];
  /** Wall-clock time after which the best grid point so far is taken (unset: search the grid). */
  readonly budgetMs?: number;
  /**
   * Threads the grid is split over (`tuneInWorker`; default 1): every CPU where nothing else
   * runs (before a server listens, a bench's tuning), one beside a serving engine.
   */
  readonly threads?: number;
}

/** Grid points `tuneForLive` searches: those whose index is `at` modulo `of`. */
export interface GridSlice {
  readonly at: number;
  readonly of: number;
}

/** A grid point's simulated peak, averaged over the seeds. */
export interface PointPeak {
  readonly index: number;
  readonly meanPeakQps: number;
}

/** The parameters chosen, and how much of the grid was searched for them. */
export interface LiveTuning {
  readonly params: PolicyParams;
  /** The chosen point's simulated peak, averaged over the seeds. */
  readonly meanPeakQps: number;
  readonly searchedPoints: number;
  readonly gridPoints: number;
}

/** The parameters `job.policy` reaches its highest mean simulated peak with. */
export function tuneForLive(job: LiveTuningJob): LiveTuning {
  return chosen(job.policy, searchForLive(job));
}

/**
 * The peaks of the grid points of `slice` (default: all) in grid order, every point on the same
 * arrivals; with a budget, the points searched before it ran out (the first one always).
 */
export function searchForLive(job: LiveTuningJob, slice: GridSlice = { at: 0, of: 1 }): PointPeak[] {
  if (job.seeds.length === 0) throw new VeltairError('invalid_argument', 'tuning needs at least one seed');
  const predictors = new Map(job.profiles.map((p) => [p.model, new ProfilePredictor(p)]));
  const endMs = Date.now() + (job.budgetMs ?? Infinity);
  const spec = policySpec(job.policy);
  const grid = gridPoints(spec);
  const scenarios = job.seeds.map((seed) => liveScenario(job.machine, job.mix, predictors, seed));
  const peaks: PointPeak[] = [];
  for (let index = slice.at; index < grid.length; index += slice.of) {
    if (peaks.length > 0 && Date.now() > endMs) break;
    const each = scenarios.map((scn) => peakOf(scn, spec, grid[index], { relTolerance: 0.02 }).peakQps);
    peaks.push({ index, meanPeakQps: each.reduce((a, b) => a + b, 0) / each.length });
  }
  return peaks;
}

/** The point of `peaks` with the highest peak, the earlier of equals (the defaults if none). */
function chosen(policy: string, peaks: readonly PointPeak[]): LiveTuning {
  const spec = policySpec(policy);
  const grid = gridPoints(spec);
  const best = [...peaks]
    .sort((a, b) => a.index - b.index)
    .reduce<PointPeak | undefined>((b, p) => (b && b.meanPeakQps >= p.meanPeakQps ? b : p), undefined);
  return {
    params: best ? grid[best.index] : spec.defaults,
    meanPeakQps: best?.meanPeakQps ?? -1,
    searchedPoints: peaks.length,
    gridPoints: grid.length,
  };
}

/** A tuning running on a worker thread, which `cancel` ends at once. */
export interface TuningRun {
  readonly result: Promise<LiveTuning>;
  cancel(): void;
}

/**
 * `tuneForLive` on `job.threads` worker threads (each a slice of the grid, within the budget), so
 * that the caller's event loop keeps serving. With the whole grid searched, the choice is the one
 * thread's.
 */
export function tuneInWorker(job: LiveTuningJob): TuningRun {
  const threads = Math.max(1, Math.floor(job.threads ?? 1));
  const workers = Array.from(
    { length: threads },
    (_, at) =>
      new Worker(new URL('./tuning-worker.js', import.meta.url), {
        workerData: { job, slice: { at, of: threads } },
      }),
  );
  const sliceOf = (worker: Worker) =>
    new Promise<PointPeak[]>((resolve, reject) => {
      worker.once('message', (m: { peaks?: PointPeak[]; error?: string }) => {
        if (m.peaks) resolve(m.peaks);
        else
          reject(
            new VeltairError('internal', `choosing ${job.policy}'s parameters: ${m.error ?? 'no answer'}`),
          );
      });
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new VeltairError('internal', `choosing ${job.policy}'s parameters: worker exited (${code})`)),
      );
    });
  const cancel = () => workers.forEach((w) => void w.terminate());
  const result = Promise.all(workers.map(sliceOf)).then(
    (slices) => chosen(job.policy, slices.flat()),
    (err: unknown) => {
      cancel();
      throw err;
    },
  );
  return { result, cancel };
}
