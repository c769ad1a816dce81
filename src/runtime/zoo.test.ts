import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZOO_MODEL_NAMES, buildZooModel, type ZooModelName } from '../zoo/index.js';
import { verifyModel } from './index.js';

/**
 * Every reference model must run block by block exactly as whole, at per-layer, 4-layer and
 * whole-model granularity, on both cuts. Small inputs (64 px images, 16 tokens) keep the test
 * lean: the graphs, and so the cuts, are the same as at full size.
 */
const SMALL = { imageSize: 64, seqLen: 16 };

for (const name of ZOO_MODEL_NAMES) {
  test(`zoo model ${name} runs block by block as whole at layer, 4-layer and whole granularity`, async () => {
    const { model } = buildZooModel(name as ZooModelName, SMALL);
    for (const granularity of ['layer', 4, 'whole'] as const) {
      const report = await verifyModel(model, name, {
        granularity,
        config: { threads: 2, optimization: 'all', spinning: false },
      });
      assert.ok(report.layers > 1, `${name} has ${report.layers} layers`);
      assert.ok(report.ok, `${name} at ${granularity}: ${JSON.stringify(report.checks)}`);
      assert.ok(report.checks.length >= 1);
    }
  });
}
