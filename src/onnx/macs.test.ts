import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, valueInfo } from './builder.js';
import { makeModel, type ModelProto } from './model.js';
import { DataType } from './tensor.js';
import { analyzeMacs, countMacs, countParameters } from './macs.js';

/** One-node graph: `shapes` gives every value's shape, written as inputs, value_info and outputs. */
function oneNode(
  op: string,
  inputs: { name: string; shape: number[]; weight?: boolean }[],
  outShape: (number | string)[],
  attrs: Record<string, number | number[]> = {},
): ModelProto {
  const g = new GraphBuilder('t');
  const names = inputs.map((i) => (i.weight ? g.weight(i.name, i.shape, 0.1) : g.input(i.name, i.shape)));
  const y = g.op(op, names, attrs);
  const graph = g.build();
  graph.output.push(valueInfo(y, DataType.FLOAT, outShape));
  return makeModel(graph, 13);
}

test('a convolution costs output elements times (input channels / group) times kernel area', () => {
  const model = oneNode(
    'Conv',
    [
      { name: 'x', shape: [1, 8, 10, 10] },
      { name: 'w', shape: [16, 4, 3, 3], weight: true },
    ],
    [1, 16, 5, 5],
    { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] },
  );
  assert.equal(countMacs(model), 16 * 5 * 5 * (4 * 3 * 3));
});

test('a transposed convolution costs input elements times (output channels / group) times kernel area', () => {
  const model = oneNode(
    'ConvTranspose',
    [
      { name: 'x', shape: [1, 4, 6, 6] },
      { name: 'w', shape: [4, 3, 2, 2], weight: true },
    ],
    [1, 3, 12, 12],
    { strides: [2, 2] },
  );
  assert.equal(countMacs(model), 4 * 6 * 6 * (3 * 2 * 2));
});

test('a Gemm costs M x N x K, with K read from A whether or not A is transposed', () => {
  const plain = oneNode(
    'Gemm',
    [
      { name: 'a', shape: [2, 5] },
      { name: 'b', shape: [7, 5], weight: true },
    ],
    [2, 7],
    { transB: 1 },
  );
  assert.equal(countMacs(plain), 2 * 7 * 5);
  const transposed = oneNode(
    'Gemm',
    [
      { name: 'a', shape: [5, 2] },
      { name: 'b', shape: [5, 7], weight: true },
    ],
    [2, 7],
    { transA: 1 },
  );
  assert.equal(countMacs(transposed), 2 * 7 * 5);
});

test('a batched, broadcast MatMul costs output elements times the shared axis', () => {
  const model = oneNode(
    'MatMul',
    [
      { name: 'a', shape: [2, 3, 4, 8] },
      { name: 'b', shape: [8, 6], weight: true },
    ],
    [2, 3, 4, 6],
  );
  assert.equal(countMacs(model), 2 * 3 * 4 * 6 * 8);
});

test('a vector-vector MatMul costs its length', () => {
  const model = oneNode(
    'MatMul',
    [
      { name: 'a', shape: [9] },
      { name: 'b', shape: [9] },
    ],
    [],
  );
  assert.equal(countMacs(model), 9);
});

test('element-wise and pooling nodes cost nothing, and heavy nodes with symbolic shapes are reported', () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', ['batch', 4]);
  const w = g.weight('w', [4, 3], 0.1);
  const r = g.op('Relu', [x]);
  const y = g.op('MatMul', [r, w]);
  const graph = g.build();
  graph.valueInfo.push(valueInfo(r, DataType.FLOAT, ['batch', 4]));
  graph.output.push(valueInfo(y, DataType.FLOAT, ['batch', 3]));
  const report = analyzeMacs(makeModel(graph, 13));
  assert.equal(report.macs, 0);
  assert.deepEqual(report.perNode, [0, null]);
  assert.deepEqual(report.unresolved, [graph.node[1].name]);
});

test('parameters count float weights but not BatchNorm statistics, scalars or int64 shapes', () => {
  const g = new GraphBuilder('t');
  const x = g.input('x', [1, 2, 4, 4]);
  const w = g.weight('w', [3, 2, 3, 3], 0.1);
  const b = g.filled('b', [3], 0);
  const c = g.op('Conv', [x, w, b], { pads: [1, 1, 1, 1] });
  const bn = g.op('BatchNormalization', [
    c,
    g.filled('gamma', [3], 1),
    g.filled('beta', [3], 0),
    g.filled('mean', [3], 0),
    g.filled('var', [3], 1),
  ]);
  const clipped = g.op('Clip', [bn, g.filled('lo', [], 0), g.filled('hi', [], 6)]);
  g.op('Reshape', [clipped, g.int64s('shape', [1, -1])]);
  const model = makeModel(g.build(), 13);
  assert.equal(countParameters(model), 3 * 2 * 3 * 3 + 3 + 3 + 3);
});
