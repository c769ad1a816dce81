import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CONFIRM_STEP,
  OPERATING_READS,
  benchLive,
  capacityQps,
  MAX_STOLEN_SHARE,
  STOLEN_PAUSES_MS,
  againWhenStolen,
  searchLivePeaks,
  idealisedRun,
  simulatedRun,
  type PeakConfirmation,
} from './live-bench.js';
import {
  erlangsAtBlocking,
  flatProfile,
  lossPolicy,
  predictorsOf,
  scalingProfile,
} from '../engine/testing.js';
import { fluidEdf, simulate } from '../sim/index.js';
import { poissonArrivals } from './arrivals.js';
import type { Scenario } from './evaluate.js';
import {
  referenceCases,
  stopBelow,
  type LiveRunOptions,
  type LiveRunResult,
  type LiveScenario,
} from './live.js';
import { branchModel, residualModel } from '../partition/fixtures.js';
import { LiveRuntime, type LiveModelSpec } from '../runtime/index.js';
import { liveModelSpec } from '../runtime/testing.js';
import { formatParams, policySpec } from '../sched/index.js';
import { upperBound } from './sequential.js';

/** A run's outcome as the search reads it: the rate, whether it ran to the end, the lowest model. */
function outcome(qps: number, minSatisfaction: number): { result: LiveRunResult } {
  return { result: { qps, complete: true, minSatisfaction, perModel: [] } as unknown as LiveRunResult };
}

/** A confirming run's outcome: two models of `queries` / 2 each, `misses` of them on the second. */
function confirmingOutcome(qps: number, queries: number, misses: number): { result: LiveRunResult } {
  const half = queries / 2;
  const perModel = [
    { model: 'a', queries: half, satisfied: half, satisfaction: 1 },
    { model: 'b', queries: half, satisfied: half - misses, satisfaction: 1 - misses / half },
  ];
  return {
    result: { qps, complete: true, minSatisfaction: 1 - misses / half, perModel } as unknown as LiveRunResult,
  };
}

const CONFIRM: PeakConfirmation = { queries: 4000, familyAlpha: 0.05, seed: 1001, retrySeed: 2001 };

describe('searchLivePeaks', () => {
  it('runs once at half the start rate before searching, and does not count that run', async () => {
    const rates: number[] = [];
    // A service that misses deadlines on its first run only (cold), and passes up to 30 QPS.
    const run = async (qps: number) => {
      rates.push(qps);
      if (rates.length === 1) return outcome(qps, 0.9);
      return outcome(qps, qps <= 30 ? 1 : 0.9);
    };
    const { p99, p95 } = await searchLivePeaks(run, { startQps: 20, minQps: 2, relTolerance: 0.05 });
    assert.equal(rates[0], 10, 'the first run is at half the start rate');
    assert.ok(p99.peakQps <= 30 && p99.peakQps >= 30 / 1.05, `99 % peak ${p99.peakQps}`);
    assert.ok(p95.peakQps <= 30 && p95.peakQps >= 30 / 1.05, `95 % peak ${p95.peakQps}`);
    assert.ok(!p99.points.some((p) => p.qps === 10 && p.satisfaction < 0.99), 'the cold run is no point');
  });

  it('reports the highest rate whose confirming run passes, stepping down from the searched peak', async () => {
    const confirming: { qps: number; opts: LiveRunOptions }[] = [];
    // Short runs pass up to 30 QPS; over 4,000 queries the service holds only 24 QPS (1 % misses above).
    const run = async (qps: number, opts: LiveRunOptions) => {
      if (opts.queries === undefined) return outcome(qps, qps <= 30 ? 1 : 0.9);
      confirming.push({ qps, opts });
      return confirmingOutcome(qps, opts.queries, qps <= 24 ? 1 : 40);
    };
    const found = await searchLivePeaks(run, {
      startQps: 20,
      minQps: 2,
      relTolerance: 0.05,
      confirm: CONFIRM,
    });
    assert.ok(found.searchedQps <= 30 && found.searchedQps >= 30 / 1.05, `searched ${found.searchedQps}`);
    const rounded = (xs: number[]) => xs.map((x) => x.toFixed(6));
    assert.deepEqual(
      rounded(confirming.map((c) => c.qps)),
      rounded([0, 1, 2, 3].map((k) => found.searchedQps * CONFIRM_STEP ** k)),
      'each retry is one step below the last',
    );
    assert.equal(found.p99.peakQps, confirming[3].qps, 'the peak is the first rate that confirmed');
    assert.ok(found.p99.peakQps <= 24);
    assert.equal(found.atPeak?.result.qps, found.p99.peakQps, "the peak's run is its confirming run");
    // 1 miss in 2,000 queries, the family's 5 % split over two models.
    assert.equal(found.upperMissRate, upperBound(1, 2000, 0.025));
    for (const c of confirming) {
      assert.equal(c.opts.seed, CONFIRM.seed, 'confirming runs have arrivals of their own');
      assert.equal(c.opts.missesAllowed?.(2000), 20, 'a confirming run stops once it cannot reach 99 %');
    }
    for (const [k, c] of confirming.entries()) {
      if (k === 0) continue; // the searched peak itself is a point of the search too
      const point = found.points.find((p) => p.qps === Math.round(c.qps * 100) / 100);
      assert.equal(point?.passed, k === 3, `the confirming run at ${c.qps} is a point of the curve`);
    }
  });

  it('tries a rate whose search run failed once more on arrivals of its own before failing it', async () => {
    const searchRuns: { qps: number; seed?: number }[] = [];
    // Holds 30 QPS, but the search's arrivals are unlucky at 20 QPS, the first rate it measures.
    const run = async (qps: number, opts: LiveRunOptions) => {
      if (opts.queries !== undefined) return confirmingOutcome(qps, opts.queries, 0);
      searchRuns.push({ qps, seed: opts.seed });
      const unlucky = qps === 20 && opts.seed === undefined;
      return outcome(qps, qps <= 30 && !unlucky ? 1 : 0.9);
    };
    const found = await searchLivePeaks(run, {
      startQps: 20,
      minQps: 2,
      relTolerance: 0.05,
      confirm: CONFIRM,
    });
    assert.ok(found.searchedQps > 30 / 1.05 && found.searchedQps <= 30, `searched ${found.searchedQps}`);
    const retries = searchRuns.filter((r) => r.seed !== undefined);
    assert.ok(
      retries.length > 0 && retries.every((r) => r.seed === CONFIRM.retrySeed),
      'retries have their own arrivals',
    );
    assert.ok(
      retries.every((r) => searchRuns.some((s) => s.qps === r.qps && s.seed === undefined)),
      'only a rate that failed is retried',
    );
    const at20 = found.points.filter((p) => p.qps === 20);
    assert.deepEqual(
      at20.map((p) => p.passed),
      [false, true],
      'both tries at 20 QPS are points of the curve',
    );
    for (const r of retries.filter((x) => x.qps !== 20)) {
      assert.ok(r.qps > 30, `${r.qps} QPS failed twice, so it failed`);
    }
  });

  it('takes one run per rate without a confirmation to catch what a retry lets through', async () => {
    const seeds: (number | undefined)[] = [];
    const run = async (qps: number, opts: LiveRunOptions) => {
      seeds.push(opts.seed);
      return outcome(qps, qps <= 30 && qps !== 20 ? 1 : 0.9);
    };
    const found = await searchLivePeaks(run, { startQps: 20, minQps: 2, relTolerance: 0.05 });
    assert.ok(found.p99.peakQps < 20, `peak ${found.p99.peakQps}`);
    assert.ok(seeds.every((s) => s === undefined));
  });

  it('reports no peak when no confirming run above the floor passes', async () => {
    const run = async (qps: number, opts: LiveRunOptions) =>
      opts.queries === undefined
        ? outcome(qps, qps <= 30 ? 1 : 0.9)
        : confirmingOutcome(qps, opts.queries, 40);
    const found = await searchLivePeaks(run, {
      startQps: 20,
      minQps: 15,
      relTolerance: 0.05,
      confirm: CONFIRM,
    });
    assert.ok(found.searchedQps > 0);
    assert.equal(found.p99.peakQps, 0);
    assert.equal(found.atPeak, undefined);
  });
});

describe('againWhenStolen', () => {
  /** A run that passes or fails as given, during which the host took `stolen` of the CPUs' time. */
  const stolenRun = (minSatisfaction: number, stolenShare: number | null) => ({
    result: {
      qps: 20,
      complete: true,
      minSatisfaction,
      perModel: [],
      stolenShare,
    } as unknown as LiveRunResult,
  });

  it('runs again, at the same rate and arrivals, while the host took more than the limit, passed or not', async () => {
    for (const satisfaction of [1, 0.9]) {
      const stolen = [0.2, 0.05, 0.001];
      const calls: { qps: number; opts: LiveRunOptions }[] = [];
      const notes: string[] = [];
      const pauses: number[] = [];
      const run = againWhenStolen(
        async (qps: number, opts: LiveRunOptions) => {
          calls.push({ qps, opts });
          return stolenRun(satisfaction, stolen[calls.length - 1]);
        },
        (m) => notes.push(m),
        async (ms) => void pauses.push(ms),
      );
      const r = await run(20, { seed: 7 });
      assert.equal(calls.length, 3, `satisfaction ${satisfaction}`);
      assert.deepEqual(pauses, STOLEN_PAUSES_MS, 'a pause before each repeat, for the bout to pass');
      assert.ok(
        calls.every((c) => c.qps === 20 && c.opts.seed === 7),
        'the same rate and arrivals each time',
      );
      assert.equal(r.result.stolenShare, 0.001, 'the undisturbed run stands');
      assert.equal(notes.length, 2);
      assert.match(notes[0], /host took 20\.0 %/);
    }
  });

  it('keeps a run at or under the limit, or where the OS does not say', async () => {
    for (const stolen of [MAX_STOLEN_SHARE, 0, null]) {
      let calls = 0;
      const run = againWhenStolen(
        async () => (calls++, stolenRun(1, stolen)),
        () => {},
        async () => assert.fail('no pause without a repeat'),
      );
      await run(20, {});
      assert.equal(calls, 1, `stolen ${stolen}`);
    }
  });

  it('gives up after its retries: the last run stands', async () => {
    let calls = 0;
    const run = againWhenStolen(
      async () => (calls++, stolenRun(0.95, 0.5)),
      () => {},
      async () => {},
    );
    const r = await run(20, {});
    assert.equal(calls, 1 + STOLEN_PAUSES_MS.length);
    assert.equal(r.result.stolenShare, 0.5);
  });
});

describe('simulatedRun', () => {
  // An M/D/8/8 loss system: 8 cores, 10 ms per query on one core, rejected when none is free.
  const serviceMs = 10;
  const scn: Scenario = {
    workload: 'loss',
    totalCores: 8,
    predictors: predictorsOf(flatProfile('m', serviceMs * 1000)),
    weights: { m: 1 },
    qosTargetMs: { m: serviceMs * 1.5 },
    queries: 4000,
    seed: 11,
    noise: { soloSigma: 0, sensitivitySigma: 0 },
    dispatchOverheadUs: 0,
  };
  const run = simulatedRun(scn, lossPolicy);

  it("is the simulator's run on the arrivals a live run at that rate and seed would get", async () => {
    const { result } = await run(500, { seed: 7, queries: 3000 });
    const direct = simulate({
      ...scn,
      arrivals: poissonArrivals(scn.weights, 500, 3000, 7),
      policy: lossPolicy(),
      seed: 7,
    });
    assert.equal(result.complete, true);
    assert.equal(result.queries, 3000);
    assert.equal(result.satisfied, direct.satisfied);
    assert.equal(result.minSatisfaction, direct.satisfied / 3000);
    assert.ok(result.minSatisfaction < 1, 'the rate loses some queries');
  });

  it('stops, as a live run does, once a model has missed more than it may', async () => {
    const full = (await run(2000, {})).result;
    const stopped = (await run(2000, { missesAllowed: stopBelow(0.99) })).result;
    assert.equal(full.complete, true);
    assert.equal(stopped.complete, false);
    assert.ok(stopped.minSatisfaction < 0.99 && stopped.minSatisfaction > full.minSatisfaction);
    assert.ok(stopped.durationMs < full.durationMs / 10, `stopped after ${stopped.durationMs} ms`);
  });

  it("lets the live peak search find the loss system's known 99 % rate", async () => {
    const expectedQps = (erlangsAtBlocking(8, 0.01) / serviceMs) * 1000;
    const long = simulatedRun({ ...scn, queries: 40_000 }, lossPolicy);
    const { p99 } = await searchLivePeaks(long, { startQps: 100, minQps: 10, relTolerance: 0.01 });
    const error = Math.abs(p99.peakQps - expectedQps) / expectedQps;
    assert.ok(error < 0.05, `peak ${p99.peakQps.toFixed(1)} vs Erlang-B ${expectedQps.toFixed(1)} QPS`);
  });
});

describe('idealisedRun', () => {
  // Eight cores, 10, 7.5 and 6.25 ms on 1, 2 and 4 of them, a 15 ms target: one core each serves
  // 800 QPS, the fastest count two queries at a time.
  const scn: Scenario = {
    workload: 'fluid',
    totalCores: 8,
    predictors: predictorsOf(scalingProfile('m', [10_000, 7_500, 6_250])),
    weights: { m: 1 },
    qosTargetMs: { m: 15 },
    queries: 4000,
    seed: 11,
    noise: { soloSigma: 0, sensitivitySigma: 0 },
    dispatchOverheadUs: 0,
  };

  it('is the idealised reference, under the division asked for, on the arrivals a live run would get', async () => {
    const satisfied = new Map<string, number>();
    for (const division of ['fastest', 'thrifty'] as const) {
      const { result } = await idealisedRun(scn, division)(500, { seed: 7, queries: 3000 });
      const direct = fluidEdf({ ...scn, division, arrivals: poissonArrivals(scn.weights, 500, 3000, 7) });
      assert.equal(result.complete, true);
      assert.equal(result.queries, 3000);
      assert.equal(result.satisfied, direct.satisfied, division);
      assert.equal(result.perModel[0].rejected, direct.rejected, division);
      assert.ok(
        result.perModel[0].p99Ms <= 15 && result.perModel[0].p99Ms > 0,
        `${division}: p99 of those served`,
      );
      satisfied.set(division, result.satisfied);
    }
    assert.ok(
      (satisfied.get('thrifty') ?? 0) > (satisfied.get('fastest') ?? 0),
      `one core each serves more here: ${JSON.stringify([...satisfied])}`,
    );
  });

  it('stops, as a live run does, once a model has missed more than it may', async () => {
    const run = idealisedRun(scn, 'thrifty');
    const full = (await run(3000, {})).result;
    const stopped = (await run(3000, { missesAllowed: stopBelow(0.99) })).result;
    assert.ok(full.complete && full.minSatisfaction < 0.99, `full run at ${full.minSatisfaction}`);
    assert.equal(stopped.complete, false);
    assert.ok(stopped.minSatisfaction > full.minSatisfaction);
  });
});

describe('benchLive', () => {
  let dir: string;
  let runtime: LiveRuntime;
  let scenario: LiveScenario;
  let specs: LiveModelSpec[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'veltair-bench-live-'));
    specs = [
      await liveModelSpec(dir, 'residual', residualModel().model),
      await liveModelSpec(dir, 'branch', branchModel().model),
    ];
    runtime = await LiveRuntime.start({ models: specs, measure: { rounds: 2 } });
    scenario = {
      workload: 'fixtures',
      weights: { residual: 0.5, branch: 0.5 },
      qosTargetMs: { residual: 40, branch: 40 },
      queries: 100,
      seed: 1,
      cases: await referenceCases(specs, 2),
      checkEvery: 5,
    };
  });

  after(async () => {
    await runtime.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const bench = (operatingQueries: number, tuned = false, onProgress?: (m: string) => void) =>
    benchLive({
      runtime,
      scenario,
      policies: ['veltair'],
      models: specs,
      compiled: specs.map((s) => s.profile),
      tuneSeeds: [101],
      params: tuned ? undefined : new Map([['veltair', policySpec('veltair').defaults]]),
      onProgress,
      relTolerance: 0.1,
      rate: 100,
      operatingQueries,
      // The fixtures' capacity is thousands of QPS: the run offers what a 2-CPU machine keeps up with.
      operatingLoad: 200 / capacityQps(runtime, scenario.weights),
    });

  it("plans each policy's units at what its operating run's blocks took, and as measured once done", async () => {
    const report = await bench(400);
    const [row] = report.rows;
    const scale = Object.entries(row.operating?.scale ?? {});
    assert.ok(scale.length > 0, `the operating run gave a scale: ${JSON.stringify(row.operating)}`);
    for (const [cpus, f] of scale) assert.ok(f >= 0.5 && f <= 2, `${cpus} CPUs: ${f}`);
    assert.ok((row.operating?.spread ?? -1) >= 0, `and a spread: ${JSON.stringify(row.operating)}`);
    assert.equal(row.atPeak?.queries, 100, 'the reported run is the rate run');
    assert.equal(report.ideal, null, 'a rate run searches no idealised peak');
    assert.equal(runtime.report.operating, null, 'the runtime plans as measured again');
  });

  it("reads the tuned parameters' blocks again, and tunes again while they moved", async () => {
    const said: string[] = [];
    const report = await bench(400, true, (m) => said.push(m));
    const reads = said.filter((m) => m.startsWith('veltair: what its blocks cost in operation'));
    const moved = said.filter((m) => m.endsWith("planned at what the tuned parameters' blocks cost")).length;
    const held = said.filter((m) => m.includes("the tuned parameters' blocks cost within")).length;
    assert.ok(reads.length >= 2 && reads.length <= OPERATING_READS, `${reads.length} reads`);
    assert.equal(reads.length, 1 + moved + held, 'each read after the first moved the plan or held it');
    assert.ok(held === 1 || reads.length === OPERATING_READS, 'reads stop once the cost holds');
    if (held === 1)
      assert.ok(
        reads.at(-1)!.includes(formatParams(report.rows[0].params)),
        "the cost that held is the chosen parameters'",
      );
    const tunings = said.filter((m) => m === 'veltair: tuning on the simulator').length;
    assert.equal(tunings, 1 + moved, 'tuned again only where the cost moved');
    assert.equal(runtime.report.operating, null, 'the runtime plans as measured again');
  });

  it('plans with the units as measured at start when asked for no operating run', async () => {
    const report = await bench(0);
    assert.equal(report.rows[0].operating, null);
  });
});
