import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flatProfile, lossPolicy, predictorsOf, scalingProfile } from '../engine/testing.js';
import type { Decision, EngineView, Policy, PolicySpec } from '../sched/index.js';
import type { Scenario } from './evaluate.js';
import { idealPeak, protocolPeak, runRate } from './protocol.js';
import { PROTOCOL_TEST, type SequentialTest } from './sequential.js';

/** Two 1 ms models on 64 cores: at 200 QPS nothing ever waits. */
const scenario = (weights: Record<string, number>, cores = 64): Scenario => ({
  workload: 'test',
  totalCores: cores,
  predictors: predictorsOf(flatProfile('a', 1000), flatProfile('b', 1000)),
  weights,
  qosTargetMs: { a: 5, b: 5 },
  queries: 0,
  seed: 0,
  noise: { soloSigma: 0, sensitivitySigma: 0 },
  dispatchOverheadUs: 0,
});

/** Runs every query at once on one core, but drops `b` queries by `dropB` (their arrival index). */
function specOf(dropB: (index: number) => boolean, base: () => Policy = lossPolicy): PolicySpec {
  return {
    name: 'test',
    summary: 'test fixture',
    role: 'baseline',
    paramGrid: {},
    defaults: {},
    create: () => {
      const inner = base();
      return {
        name: 'test',
        decide(view: EngineView): Decision[] {
          return inner.decide(view).map((d) => {
            const q = view.waiting.find((w) => w.id === d.query);
            return q?.model === 'b' && dropB(Number(d.query.slice(1)))
              ? { kind: 'reject', query: d.query, reason: 'deadline_unreachable' }
              : d;
          });
        },
      };
    },
  };
}

describe('runRate', () => {
  it('fails a rate where one model misses 2 % although the mix as a whole meets 99 %', () => {
    const run = runRate(
      scenario({ a: 0.9, b: 0.1 }),
      specOf((i) => i % 50 === 0),
      {},
      200,
      1,
    );
    assert.equal(run.verdict, 'fail');
    const b = run.models.find((m) => m.model === 'b');
    assert.ok(b && b.lowerMissRate > 0.01, JSON.stringify(b));
    assert.ok(run.sim.satisfaction > 0.99, `pooled satisfaction ${run.sim.satisfaction}`);
  });

  it('decides on whole chunks of the first arrivals, every model counted', () => {
    const run = runRate(
      scenario({ a: 0.5, b: 0.5 }),
      specOf(() => false),
      {},
      200,
      1,
    );
    assert.equal(run.verdict, 'pass');
    assert.equal(run.decidedQueries % PROTOCOL_TEST.chunkQueries, 0);
    assert.equal(
      run.models.reduce((n, m) => n + m.queries, 0),
      run.decidedQueries,
    );
    for (const m of run.models) assert.ok(m.misses === 0 && m.upperMissRate < 0.01, JSON.stringify(m));
  });

  it('stops as soon as a model can no longer pass, before its first look', () => {
    const run = runRate(
      scenario({ a: 0.5, b: 0.5 }),
      specOf((i) => i < 2000),
      {},
      200,
      1,
    );
    assert.notEqual(run.verdict, 'pass');
    assert.ok(run.decidedQueries < PROTOCOL_TEST.chunkQueries, `decided on ${run.decidedQueries}`);
    assert.equal(run.sim.complete, false);
  });

  it('draws another trace on another seed', () => {
    const scn = scenario({ a: 0.5, b: 0.5 });
    const one = runRate(
      scn,
      specOf(() => false),
      {},
      200,
      1,
    );
    const two = runRate(
      scn,
      specOf(() => false),
      {},
      200,
      2,
    );
    assert.notDeepEqual(
      one.models.map((m) => m.queries),
      two.models.map((m) => m.queries),
    );
  });
});

describe('protocolPeak', () => {
  it('prints a peak that passes when re-run on every seed', () => {
    // An M/D/8/8 loss system: 8 cores, 1 ms per query, rejected when all are busy.
    const scn = scenario({ a: 0.5, b: 0.5 }, 8);
    const spec = specOf(() => false);
    const test: SequentialTest = { ...PROTOCOL_TEST, chunkQueries: 1000, maxQueries: 8000 };
    const seeds = [1, 2, 3];
    const peak = protocolPeak(scn, spec, {}, seeds, test, { startQps: 500 });
    assert.ok(peak.peakQps > 0, 'a peak');
    for (const seed of seeds)
      assert.equal(runRate(scn, spec, {}, peak.peakQps, seed, test).verdict, 'pass', `seed ${seed}`);
    assert.equal(peak.perSeed.length, 3);
  });
});

describe('idealPeak', () => {
  const test: SequentialTest = { ...PROTOCOL_TEST, chunkQueries: 1000, maxQueries: 8000 };
  const oneModel = (soloUs: readonly [number, number, number], targetMs: number): Scenario => ({
    ...scenario({ a: 1 }, 4),
    predictors: predictorsOf(scalingProfile('a', soloUs)),
    qosTargetMs: { a: targetMs },
  });

  it("takes the better division: one core each where a model's extra cores give little", () => {
    // 4, 3 and 2.5 ms on 1, 2 and 4 cores: four queries side by side on one core each serve
    // 1000 QPS, one at a time on the fastest count 400.
    const scn = oneModel([4000, 3000, 2500], 12);
    const fastest = idealPeak(scn, [1, 2], test, ['fastest']);
    const both = idealPeak(scn, [1, 2], test);
    assert.equal(both.division, 'thrifty');
    assert.ok(
      both.peakQps > 1.5 * fastest.peakQps,
      `thrifty ${both.peakQps} vs fastest ${fastest.peakQps} QPS`,
    );
  });

  it('takes the higher peak whatever the order the divisions are tried in', () => {
    const scn = oneModel([4000, 3000, 2500], 12);
    const forward = idealPeak(scn, [1, 2], test, ['fastest', 'thrifty']);
    const backward = idealPeak(scn, [1, 2], test, ['thrifty', 'fastest']);
    assert.equal(backward.division, 'thrifty');
    assert.equal(backward.peakQps, forward.peakQps);
  });
});
