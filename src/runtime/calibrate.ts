/**
 * Measures the units the live runtime runs (each model's segments and its whole-model session),
 * on the runtime's own pinned workers, so that policies plan with what the engine will execute:
 * chains of segment sessions pay every session's start and end, which the compiled layer
 * profile only estimates.
 *
 * Models are measured in rotation, one chain of all segments and one whole run each in turn, so
 * every run starts with the caches holding the other models' data, as under load; on one CPU,
 * every worker measures at the same time, as blocks run side by side under load.
 */
import { performance } from 'node:perf_hooks';
import { lowerMedian } from '../profile/index.js';
import type { WorkerPool, ChainResult } from './pool.js';
import type { UnitLatencies } from './segments.js';
import type { Chain, ServedModel } from './served.js';
import { cpuWindows } from './windows.js';
import type { WireTensor, WireTensors } from './wire.js';

export interface MeasureOptions {
  /** Rounds of the rotation per version and CPU window. */
  readonly rounds: number;
}

export const DEFAULT_MEASURE_OPTIONS: MeasureOptions = { rounds: 5 };

/**
 * Waits until the runtime may use `cpus` for its own runs, and answers the release: a live
 * engine serving meanwhile takes them from its policy first (`LiveEngine.hold`).
 */
export type CpuGate = (cpus: readonly number[]) => Promise<() => void>;

/** Nothing else runs: the CPUs are always the runtime's. */
export const OPEN_GATE: CpuGate = () => Promise.resolve(() => {});

/** Runs `work` once `gate` gives the runtime `cpus`, and gives them back after. */
export async function onCpus<T>(gate: CpuGate, cpus: readonly number[], work: () => Promise<T>): Promise<T> {
  const release = await gate(cpus);
  try {
    return await work();
  } finally {
    release();
  }
}

/** What measuring found for one model: its unit latencies and what chains cost over the whole. */
export interface UnitMeasurement {
  /**
   * Spread of a unit's runs around its median (standard deviation of log(run / median), over
   * every unit, version and core count): how much a block's latency varies from run to run.
   */
  readonly logSpread: number;
  readonly latencies: UnitLatencies;
  /**
   * Per version and core count: the chain of every segment over the whole-model session, both
   * measured (median runs): what running the model as segments costs against one session.
   */
  readonly chainOverWhole: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

function copyWire(feeds: WireTensors): WireTensors {
  const copy = (w: WireTensor): WireTensor => ({
    ...w,
    data: Array.isArray(w.data) ? [...w.data] : (w.data as Float32Array).slice(),
  });
  return Object.fromEntries(Object.entries(feeds).map(([n, w]) => [n, copy(w)]));
}

/** A chain run once `gate` gives `cpus`, and how long its round trip took beyond the sessions' runs (us). */
function runChain(
  pool: WorkerPool,
  model: ServedModel,
  chain: Chain,
  version: string,
  cpus: readonly number[],
  gate: CpuGate,
) {
  return onCpus(gate, cpus, () => {
    // The inputs are copied before the clock starts: an engine moves a block the tensors it holds
    // and copies none, so a copy is no part of a block's round trip.
    const feeds = copyWire(model.sampleInputs);
    const sent = performance.now();
    return new Promise<ChainResult & { overheadUs: number }>((resolve, reject) =>
      pool.run(cpus[0], { steps: model.steps(chain, version, cpus), returns: chain.returns }, feeds, (r) => {
        if (r instanceof Error) return reject(r);
        const runUs = r.stepUs.reduce((a, b) => a + b, 0);
        resolve({ ...r, overheadUs: (performance.now() - sent) * 1000 - runUs });
      }),
    );
  });
}

/** Samples of one model: by version, cores, unit. */
type Samples = Map<string, Map<number, number[][]>>;

function record(
  samples: Samples,
  version: string,
  cores: number,
  units: readonly number[],
  us: readonly number[],
) {
  let byCores = samples.get(version);
  if (!byCores) samples.set(version, (byCores = new Map()));
  let perUnit = byCores.get(cores);
  if (!perUnit) byCores.set(cores, (perUnit = []));
  units.forEach((u, k) => (perUnit[u] ??= []).push(us[k]));
}

/** Measures every unit of `models` in every version on every CPU window the runtime opened. */
export async function measureUnits(
  pool: WorkerPool,
  models: readonly ServedModel[],
  coreCounts: readonly number[],
  opts: MeasureOptions = DEFAULT_MEASURE_OPTIONS,
  gate: CpuGate = OPEN_GATE,
): Promise<{ models: Map<string, UnitMeasurement>; dispatchOverheadUs: number }> {
  const samples = new Map<string, Samples>(models.map((m) => [m.name, new Map()]));
  const overheads: number[] = [];
  const rotation = async (cpus: readonly number[], version: string) => {
    for (let round = 0; round < opts.rounds; round++) {
      for (const model of models) {
        if (!model.predictor.versions.includes(version)) continue;
        const s = samples.get(model.name) as Samples;
        const segments = model.segmentChain();
        const chained = await runChain(pool, model, segments, version, cpus, gate);
        record(s, version, cpus.length, segments.units, chained.stepUs);
        overheads.push(chained.overheadUs);
        if (model.segmentCount > 1) {
          const whole = await runChain(
            pool,
            model,
            model.chain([0, model.segmentCount]),
            version,
            cpus,
            gate,
          );
          record(s, version, cpus.length, [model.segmentCount], whole.stepUs);
          overheads.push(whole.overheadUs);
        }
      }
    }
  };
  const versions = [...new Set(models.flatMap((m) => m.predictor.versions))];
  for (const cores of coreCounts) {
    const windows = cpuWindows(pool.cpus, [cores]);
    for (const version of versions) {
      // One CPU per block: every worker at once. More: one window after the other.
      if (cores === 1) await Promise.all(windows.map((w) => rotation(w, version)));
      else for (const w of windows) await rotation(w, version);
    }
  }
  return {
    models: new Map(models.map((m) => [m.name, summarize(m, samples.get(m.name) as Samples)])),
    dispatchOverheadUs: lowerMedian(overheads),
  };
}

function summarize(model: ServedModel, samples: Samples): UnitMeasurement {
  const latencies = new Map<string, Map<number, number[]>>();
  const chainOverWhole = new Map<string, Map<number, number>>();
  const deviations: number[] = [];
  for (const [version, byCores] of samples) {
    const lat = new Map<number, number[]>();
    const ratio = new Map<number, number>();
    for (const [cores, perUnit] of byCores) {
      const medians = perUnit.map(lowerMedian);
      perUnit.forEach((runs, u) => runs.forEach((us) => deviations.push(Math.log(us / medians[u]))));
      lat.set(cores, medians);
      const S = model.segmentCount;
      if (S > 1 && perUnit[S]) {
        const chainUs = lowerMedian(
          perUnit[0].map((_, round) => perUnit.slice(0, S).reduce((sum, u) => sum + u[round], 0)),
        );
        ratio.set(cores, chainUs / medians[S]);
      }
    }
    latencies.set(version, lat);
    chainOverWhole.set(version, ratio);
  }
  const spread =
    deviations.length > 1
      ? Math.sqrt(deviations.reduce((a, d) => a + d * d, 0) / (deviations.length - 1))
      : 0;
  return { latencies, chainOverWhole, logSpread: spread };
}

/**
 * What running `model` as its chain of segments costs over one whole-model session on `cpu`
 * (1 core, `version`), measured: the chain's median sum over the whole's median, minus 1. Opens
 * the sessions it needs and releases every session of the model afterwards.
 */
export async function measureChainOverhead(
  pool: WorkerPool,
  model: ServedModel,
  cpu: number,
  version: string,
  rounds: number,
  gate: CpuGate = OPEN_GATE,
): Promise<number> {
  if (model.segmentCount <= 1) return 0;
  await onCpus(gate, [cpu], () => pool.open(cpu, model.sessionSpecs([cpu], [version])));
  try {
    const chain: number[] = [];
    const whole: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const c = await runChain(pool, model, model.segmentChain(), version, [cpu], gate);
      chain.push(c.stepUs.reduce((a, b) => a + b, 0));
      const w = await runChain(pool, model, model.chain([0, model.segmentCount]), version, [cpu], gate);
      whole.push(w.stepUs[0]);
    }
    return lowerMedian(chain) / lowerMedian(whole) - 1;
  } finally {
    await pool.close(model.keyPrefix);
  }
}
