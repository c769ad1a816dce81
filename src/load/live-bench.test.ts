import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { searchLivePeaks } from './live-bench.js';
import type { LiveRunResult } from './live.js';

/** A run's outcome as the search reads it: the rate, whether it ran to the end, the lowest model. */
function outcome(qps: number, minSatisfaction: number): { result: LiveRunResult } {
  return { result: { qps, complete: true, minSatisfaction } as LiveRunResult };
}

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
});
