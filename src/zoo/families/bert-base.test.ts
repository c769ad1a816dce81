import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildZooModel } from '../index.js';

test('BERT takes its sequence length as a parameter', () => {
  const built = buildZooModel('bert-base', { seqLen: 32 });
  assert.deepEqual(built.inputs[0].shape, [1, 32]);
  assert.deepEqual(built.outputs[0].shape, [1, 32, 768]);
  // Encoder matmuls scale with the sequence (attention scores with its square).
  assert.ok(built.macs < buildZooModel('bert-base', { seqLen: 64 }).macs);
});
