import { test } from 'node:test';
import assert from 'node:assert/strict';
import { residualModel } from '../partition/fixtures.js';
import { measureOverhead } from './index.js';

test('the overhead report has whole, coarse and per-layer rows per thread count, ratios over whole', async () => {
  const { model } = residualModel();
  const report = await measureOverhead([{ name: 'residual', model }], {
    runs: 3,
    warmupRuns: 1,
    threads: [1, 2],
    coarseBlocks: 2,
  });
  assert.equal(report.runs, 3);
  assert.equal(report.loadAverageStart.length, 3);
  assert.deepEqual(
    report.rows.map((r) => [r.threads, r.variant, r.blocks]),
    [
      [1, 'whole', 1],
      [1, 'coarse', 2],
      [1, 'layer', 4],
      [2, 'whole', 1],
      [2, 'coarse', 2],
      [2, 'layer', 4],
    ],
  );
  for (const r of report.rows) {
    assert.ok(r.medianMs > 0 && r.p99Ms >= r.medianMs && r.cpuMedianMs >= 0);
    if (r.variant === 'whole') assert.equal(r.medianRatio, 1);
    else
      assert.ok(
        Math.abs(r.medianRatio - r.medianMs / report.rows.find((w) => w.threads === r.threads)!.medianMs) <
          1e-9,
      );
  }
});
