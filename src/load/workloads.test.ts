import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isZooModelName } from '../zoo/index.js';
import { MLPERF_QOS_MS, WORKLOADS } from './workloads.js';

test('every model a workload mixes is a zoo family', () => {
  for (const workload of Object.values(WORKLOADS)) {
    for (const model of Object.keys(workload.weights))
      assert.ok(isZooModelName(model), `${workload.name}: ${model} is no zoo family`);
  }
});

test("MLPerf's targets come from the families that have one", () => {
  assert.deepEqual(MLPERF_QOS_MS, { resnet50: 15, mobilenetv2: 10, 'bert-base': 130 });
});
