import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema } from 'onnx-buf';
import { DataType, makeModel, valueInfo } from '../onnx/index.js';
import { residualModel } from './fixtures.js';
import { seededInputs } from './inputs.js';

/** A model with one input of each kind a block may be fed: floats, half floats, ids, flags. */
function mixedInputs() {
  const graph = create(GraphProtoSchema, {
    name: 'inputs',
    input: [
      valueInfo('x', DataType.FLOAT, [2, 'n']),
      valueInfo('h', DataType.FLOAT16, [4]),
      valueInfo('ids', DataType.INT64, [8]),
      valueInfo('mask', DataType.BOOL, [8]),
    ],
  });
  return makeModel(graph, 17);
}

describe('seeded inputs', () => {
  it('are the same for the same seed and differ for another', () => {
    const { model } = residualModel();
    const a = seededInputs(model, { seed: 1 }).x.data as Float32Array;
    const b = seededInputs(model, { seed: 1 }).x.data as Float32Array;
    const c = seededInputs(model, { seed: 2 }).x.data as Float32Array;
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.ok(a.every((v) => v >= -1 && v < 1));
  });

  it('feed every kind of input, half floats included, symbolic dims at 1', () => {
    const feeds = seededInputs(mixedInputs(), { seed: 3 });
    assert.deepEqual(feeds.x.dims, [2, 1]);
    assert.equal(feeds.h.type, 'float16');
    assert.ok((feeds.ids.data as BigInt64Array).every((v) => v === 0n || v === 1n));
    assert.ok(
      (feeds.ids.data as BigInt64Array).some((v) => v === 1n),
      'ids are not all 0',
    );
  });

  it("a block's integers and flags are 0: they may be shapes or indices computed upstream", () => {
    const zeros = seededInputs(mixedInputs(), { seed: 3, integers: 'zeros' });
    assert.ok((zeros.ids.data as BigInt64Array).every((v) => v === 0n));
    assert.ok((zeros.mask.data as Uint8Array).every((v) => v === 0));
    assert.ok(
      (zeros.x.data as Float32Array).some((v) => v !== 0),
      'floats stay random',
    );
  });
});
