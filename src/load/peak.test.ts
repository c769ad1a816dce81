import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policySpec } from '../sched/index.js';
import { loadProfileSource, simulate } from '../sim/index.js';
import { flatProfile, lossPolicy, predictorsOf } from '../engine/testing.js';
import { poissonArrivals } from './arrivals.js';
import { runPoint, tunePolicy } from './evaluate.js';
import { findPeak, findPeakAsync } from './peak.js';
import { prepareScenarios } from './setup.js';

/** Erlang's loss formula: blocking probability of c servers offered `erlangs` of load. */
function erlangB(c: number, erlangs: number): number {
  let b = 1;
  for (let k = 1; k <= c; k++) b = (erlangs * b) / (k + erlangs * b);
  return b;
}

/** Offered load (erlangs) at which c servers block exactly `blocking` of arrivals. */
function erlangsAtBlocking(c: number, blocking: number): number {
  let [lo, hi] = [0, c];
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (erlangB(c, mid) < blocking) lo = mid;
    else hi = mid;
  }
  return lo;
}

describe('findPeak', () => {
  it('brackets and bisects to a known threshold within the tolerance', () => {
    const r = findPeak((qps) => (qps <= 123.4 ? 1 : 0.5), { startQps: 10, relTolerance: 0.01 });
    assert.ok(r.peakQps <= 123.4 && r.peakQps >= 123.4 / 1.01, `peak ${r.peakQps}`);
    assert.ok(r.failQps > 123.4 && (r.failQps - r.peakQps) / r.peakQps <= 0.01);
  });

  it('widens downwards when the start rate fails', () => {
    const r = findPeak((qps) => (qps <= 3 ? 1 : 0), { startQps: 1000, relTolerance: 0.02 });
    assert.ok(r.peakQps <= 3 && r.peakQps >= 3 / 1.02, `peak ${r.peakQps}`);
  });

  it('reports 0 when nothing passes', () => {
    assert.equal(findPeak(() => 0, { startQps: 1 }).peakQps, 0);
  });

  it('runs the same search with an asynchronous measurement', async () => {
    const measure = (qps: number) => (qps <= 50 ? 1 : 0);
    const sync = findPeak(measure, { startQps: 7 });
    const async = await findPeakAsync(async (q) => measure(q), { startQps: 7 });
    assert.deepEqual(async, sync);
  });

  it('finds the Erlang-B rate of a simulated M/D/8/8 loss system (known answer)', () => {
    // 8 cores, 10 ms per query, one core each, rejected when none is free: satisfaction is
    // 1 - ErlangB(8, rate x 10 ms), so the 99% point is at ErlangB = 1%.
    const serviceMs = 10;
    const cores = 8;
    const expectedQps = (erlangsAtBlocking(cores, 0.01) / serviceMs) * 1000;
    const predictors = predictorsOf(flatProfile('m', serviceMs * 1000));
    const measure = (qps: number) =>
      simulate({
        totalCores: cores,
        predictors,
        qosTargetMs: { m: serviceMs * 1.5 },
        arrivals: poissonArrivals({ m: 1 }, qps, 40000, 11),
        policy: lossPolicy(),
        seed: 11,
        noise: { soloSigma: 0, sensitivitySigma: 0 },
        dispatchOverheadUs: 0,
      }).satisfaction;
    const r = findPeak(measure, { startQps: 50, relTolerance: 0.01 });
    const error = Math.abs(r.peakQps - expectedQps) / expectedQps;
    assert.ok(error < 0.05, `peak ${r.peakQps.toFixed(1)} vs Erlang-B ${expectedQps.toFixed(1)} QPS`);
  });
});

describe('poissonArrivals', () => {
  it('arrives at the asked rate with the asked mix', () => {
    const a = poissonArrivals({ x: 0.75, y: 0.25 }, 200, 20000, 5);
    const rate = (a.length / a[a.length - 1].atMs) * 1000;
    assert.ok(Math.abs(rate - 200) / 200 < 0.03, `rate ${rate}`);
    const share = a.filter((q) => q.model === 'x').length / a.length;
    assert.ok(Math.abs(share - 0.75) < 0.02, `share ${share}`);
  });

  it('draws the same queries at every rate, only closer together', () => {
    const slow = poissonArrivals({ x: 0.5, y: 0.5 }, 10, 50, 9);
    const fast = poissonArrivals({ x: 0.5, y: 0.5 }, 40, 50, 9);
    assert.deepEqual(
      fast.map((q) => q.model),
      slow.map((q) => q.model),
    );
    fast.forEach((q, i) => assert.ok(Math.abs(q.atMs * 4 - slow[i].atMs) < 1e-6));
  });
});

describe('tunePolicy', () => {
  it('keeps the complete run at the chosen peak, equal to running that rate again', () => {
    const [prepared] = prepareScenarios(loadProfileSource('threadripper-3990x'), ['light'], {
      totalCores: 64,
      queries: 300,
      seed: 2,
    });
    const spec = policySpec('planaria');
    const tuned = tunePolicy(prepared.scenario, spec);
    assert.ok(tuned.peakQps > 0 && tuned.atPeak, 'a peak with its run');
    assert.deepEqual(tuned.atPeak, runPoint(prepared.scenario, spec, tuned.params, tuned.peakQps));
  });
});
