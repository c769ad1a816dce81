import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType, tensorTypeBytes } from './tensor.js';

test("a value's bytes come from its declared type: symbolic dims count as 1, an unknown rank as no size", () => {
  assert.equal(tensorTypeBytes({ elemType: DataType.FLOAT, shape: [1, 3, 4, 4] }), 192);
  assert.equal(tensorTypeBytes({ elemType: DataType.FLOAT16, shape: ['batch', 8] }), 16);
  assert.equal(tensorTypeBytes({ elemType: DataType.INT64, shape: [] }), 8, 'a scalar is one element');
  assert.equal(tensorTypeBytes({ elemType: DataType.FLOAT }), 0);
  assert.equal(tensorTypeBytes(undefined), 0);
});
