/**
 * The live load generator (MLPerf LoadGen's Server scenario, in process): Poisson arrivals on a
 * fixed schedule, each query submitted when due and its latency counted from its scheduled
 * time, so the generator's own lateness and every queue count against the service. Satisfaction
 * is per model. A sample of answers is compared with a direct whole-model run; a wrong answer
 * fails the run.
 */
import * as ort from 'onnxruntime-node';
import { nearestRank } from '../profile/index.js';
import { loadModel } from '../onnx/index.js';
import {
  DEFAULT_TOLERANCE,
  compareOutputs,
  cpuTicks,
  openModelSession,
  processCpus,
  stolenShare,
  type InferenceService,
  type InferOutcome,
} from '../runtime/index.js';
import { seededInputs, type TensorMap } from '../partition/index.js';
import { DEFAULT_SESSION_CONFIG } from '../partition/index.js';
import { poissonArrivals } from './arrivals.js';
import type { LiveMix } from './tuning.js';
import { VeltairError } from '../errors/index.js';

/** Seeded inputs of a model and the whole model's answers to them (the reference). */
export interface ReferenceCase {
  readonly feeds: TensorMap;
  readonly expected: TensorMap;
}

/** A mix of load (`LiveMix`) as the live generator runs it. */
export interface LiveScenario extends LiveMix {
  readonly seed: number;
  /** Inputs queries cycle through, with their reference answers, per model. */
  readonly cases: ReadonlyMap<string, readonly ReferenceCase[]>;
  /** Compare one answer in this many with its reference. */
  readonly checkEvery: number;
}

export interface LiveModelStats {
  model: string;
  queries: number;
  satisfied: number;
  /** Ended without an answer: dropped or expired by the engine, or aborted when the run stopped. */
  rejected: number;
  failed: number;
  /** satisfied / queries; an upper bound when the run stopped early. */
  satisfaction: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LiveRunResult {
  qps: number;
  /** False when the run stopped once some model could no longer reach the target. */
  complete: boolean;
  queries: number;
  satisfied: number;
  /** The lowest model's satisfaction: what a run must reach to pass. */
  minSatisfaction: number;
  perModel: LiveModelStats[];
  /** Over answered queries, from their scheduled arrival. */
  meanLatencyMs: number;
  p99LatencyMs: number;
  durationMs: number;
  /** How late the generator submitted queries (p99, ms): counted in their latency. */
  submitLateP99Ms: number;
  checked: number;
  /**
   * The share of the machine's CPU time the hypervisor took during the run (Linux's steal, over
   * the CPUs this process may use); null where the OS does not say.
   */
  stolenShare: number | null;
}

/** `count` seeded inputs per model and the whole model's answers to them, run directly in ORT. */
export async function referenceCases(
  models: readonly { name: string; path: string }[],
  count: number,
): Promise<Map<string, ReferenceCase[]>> {
  const out = new Map<string, ReferenceCase[]>();
  for (const m of models) {
    const model = await loadModel(m.path);
    const session = await openModelSession(model, DEFAULT_SESSION_CONFIG, m.path);
    const cases: ReferenceCase[] = [];
    for (let k = 0; k < count; k++) {
      const feeds = seededInputs(model, { seed: k + 1 });
      cases.push({ feeds, expected: (await session.run(feeds)) as TensorMap });
    }
    await session.release();
    out.set(m.name, cases);
  }
  return out;
}

/** A fresh copy of a case's inputs, for a service that takes buffers over. */
function copyFeeds(feeds: TensorMap): TensorMap {
  const copy = (t: ort.Tensor) =>
    new ort.Tensor(
      t.type,
      (t.data as Float32Array).slice() as ort.Tensor.DataTypeMap[ort.Tensor.Type],
      t.dims,
    );
  return Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, copy(t)]));
}

export interface LiveRunOptions {
  /**
   * The misses a model may have among its `planned` queries: once one has more, the run stops
   * (queries not started are aborted, started ones finish), which is enough to tell pass from
   * fail. Without it the run goes to its end.
   */
  readonly missesAllowed?: (planned: number) => number;
  /** Queries in the run (default: the scenario's). */
  readonly queries?: number;
  /** Seed of its arrivals (default: the scenario's). */
  readonly seed?: number;
}

/** Stop once a model falls below `target` satisfaction of its planned queries. */
export const stopBelow =
  (target: number) =>
  (planned: number): number =>
    Math.floor((1 - target) * planned);

/**
 * A run's misses per model against what each may miss of its planned queries (`missesAllowed`;
 * unset: all of them), shared by live runs and the simulated runs that stand in for them.
 */
export class MissTally {
  private readonly plannedCount = new Map<string, number>();
  private readonly missCount = new Map<string, number>();

  constructor(
    arrivals: readonly { model: string }[],
    private readonly missesAllowed?: (planned: number) => number,
  ) {
    for (const a of arrivals) this.plannedCount.set(a.model, (this.plannedCount.get(a.model) ?? 0) + 1);
  }

  /** The models with planned queries, sorted. */
  models(): string[] {
    return [...this.plannedCount.keys()].sort();
  }

  planned(model: string): number {
    return this.plannedCount.get(model) ?? 0;
  }

  /** Counts one miss of `model`; true when the model has now missed more than it may. */
  miss(model: string): boolean {
    const n = (this.missCount.get(model) ?? 0) + 1;
    this.missCount.set(model, n);
    const planned = this.planned(model);
    return n > (this.missesAllowed?.(planned) ?? planned);
  }

  /**
   * `model`'s share of satisfied planned queries; once the run stopped early, 1 - misses so far /
   * planned, an upper bound (queries never run count as met).
   */
  satisfaction(model: string, satisfied: number, stopped: boolean): number {
    const n = this.planned(model);
    return stopped ? 1 - (this.missCount.get(model) ?? 0) / n : satisfied / n;
  }
}

/** One open-loop run at `qps` against `service`. */
export async function runLive(
  service: InferenceService,
  scn: LiveScenario,
  qps: number,
  opts: LiveRunOptions = {},
): Promise<LiveRunResult> {
  const arrivals = poissonArrivals(scn.weights, qps, opts.queries ?? scn.queries, opts.seed ?? scn.seed);
  const tally = new MissTally(arrivals, opts.missesAllowed);
  const latencies = new Map<string, number[]>();
  const ended = new Map<string, { satisfied: number; rejected: number; failed: number }>();
  const late: number[] = [];
  const pending: Promise<void>[] = [];
  let stopped = false;
  let checked = 0;
  let wrong: string | undefined;

  const account = (model: string, outcome: InferOutcome, check?: ReferenceCase) => {
    let e = ended.get(model);
    if (!e) ended.set(model, (e = { satisfied: 0, rejected: 0, failed: 0 }));
    if (outcome.status === 'ok') {
      (latencies.get(model) ?? latencies.set(model, []).get(model)!).push(outcome.latencyMs);
      if (check) {
        checked++;
        const c = compareOutputs(check.expected, outcome.outputs, DEFAULT_TOLERANCE);
        if (!c.ok) wrong ??= `${model}: answer differs from the whole model's (max rel diff ${c.maxRelDiff})`;
      }
      if (outcome.satisfied) e.satisfied++;
    } else if (outcome.status === 'rejected') e.rejected++;
    else e.failed++;
    if (outcome.status === 'ok' && outcome.satisfied) return;
    if (tally.miss(model) && !stopped) {
      stopped = true;
      service.abortWaiting();
    }
  };

  const cpus = processCpus();
  const ticksBefore = cpuTicks(cpus);
  const startMs = service.clock.nowMs() + 5;
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = service.clock.nowMs();
      while (!stopped && next < arrivals.length && startMs + arrivals[next].atMs <= now) {
        const k = next++;
        const a = arrivals[k];
        const due = startMs + a.atMs;
        late.push(now - due);
        const cases = scn.cases.get(a.model) ?? [];
        const c = cases[k % cases.length];
        const check = k % scn.checkEvery === 0 ? c : undefined;
        pending.push(
          service
            .infer(a.model, service.takesFeeds ? copyFeeds(c.feeds) : c.feeds, { arrivalMs: due })
            .then((o) => account(a.model, o, check)),
        );
      }
      if (stopped || next >= arrivals.length) return resolve();
      setTimeout(tick, Math.max(0, startMs + arrivals[next].atMs - service.clock.nowMs()));
    };
    tick();
  });
  await Promise.all(pending);
  await service.idle();
  const ticksAfter = cpuTicks(cpus);
  if (wrong) throw new VeltairError('wrong_answer', wrong);

  const perModel = tally.models().map((model): LiveModelStats => {
    const e = ended.get(model) ?? { satisfied: 0, rejected: 0, failed: 0 };
    const l = Float64Array.from(latencies.get(model) ?? []).sort();
    const mean = l.length === 0 ? 0 : l.reduce((a, b) => a + b, 0) / l.length;
    return {
      model,
      queries: tally.planned(model),
      ...e,
      satisfaction: tally.satisfaction(model, e.satisfied, stopped),
      meanMs: mean,
      p50Ms: l.length ? nearestRank(l, 0.5) : 0,
      p99Ms: l.length ? nearestRank(l, 0.99) : 0,
    };
  });
  const all = Float64Array.from([...latencies.values()].flat()).sort();
  const endMs = service.clock.nowMs();
  return {
    qps,
    complete: !stopped,
    queries: arrivals.length,
    satisfied: perModel.reduce((s, m) => s + m.satisfied, 0),
    minSatisfaction: Math.min(...perModel.map((m) => m.satisfaction)),
    perModel,
    meanLatencyMs: all.length ? all.reduce((a, b) => a + b, 0) / all.length : 0,
    p99LatencyMs: all.length ? nearestRank(all, 0.99) : 0,
    durationMs: endMs - startMs,
    submitLateP99Ms: late.length ? nearestRank(Float64Array.from(late).sort(), 0.99) : 0,
    checked,
    stolenShare: ticksBefore && ticksAfter ? stolenShare(ticksBefore, ticksAfter) : null,
  };
}
