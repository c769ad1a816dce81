import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topologicalOrder } from '../onnx/index.js';
import {
  ModelPartition,
  discoverLayers,
  extractBlock,
  inferValueTypes,
  ortOptimizedLayers,
  parseGranularity,
  planBlocks,
  planEvenBlocks,
  planCoarseBlocks,
} from './index.js';
import {
  allFixtures,
  branchModel,
  cheapOnlyModel,
  ifModel,
  multiIoModel,
  residualModel,
  symbolicModel,
} from './fixtures.js';

for (const fixture of allFixtures()) {
  test(`every node of ${fixture.name} lies in exactly one layer, layers contiguous in one topological order`, () => {
    const graph = fixture.model.graph!;
    const layers = discoverLayers(fixture.model);
    const flat = layers.flatMap((l) => l.nodes);
    assert.deepEqual(
      [...flat].sort((a, b) => a - b),
      graph.node.map((_, i) => i),
    );
    const position = new Map(flat.map((n, p) => [n, p]));
    const producedAt = new Map<string, number>();
    flat.forEach((n, p) => graph.node[n].output.forEach((o) => producedAt.set(o, p)));
    flat.forEach((n, p) => {
      for (const r of graph.node[n].input)
        assert.ok((producedAt.get(r) ?? -1) < p, `${r} read before written`);
    });
    layers.forEach((l, i) => assert.equal(l.index, i));
    assert.equal(position.size, graph.node.length);
  });
}

test('each heavy node anchors its own layer and its BatchNorm, Relu and residual Add follow it', () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  assert.equal(layers.length, 4);
  assert.ok(layers.every((l) => l.anchorOp === 'Conv'));
  assert.deepEqual(layers[0].ops, ['Conv', 'BatchNormalization', 'Relu']);
  assert.deepEqual(layers[1].ops, ['Conv', 'BatchNormalization', 'Add', 'Relu']);
});

test('a layer knows its MACs once shapes are declared, symbolic dims counting as 1', async () => {
  const { model } = symbolicModel();
  // No value_info: the MatMul outputs' shapes are unknown, so are their MACs.
  assert.deepEqual(
    discoverLayers(model).map((l) => l.macs),
    [0, 0],
  );
  const typed = await inferValueTypes(model);
  // [N, 8] x [8, 5] and [N, 5] x [5, 3], per unit of N.
  assert.deepEqual(
    discoverLayers(typed).map((l) => l.macs),
    [40, 15],
  );
  const convs = discoverLayers(await inferValueTypes(residualModel().model));
  // 4 -> 4 channels, 3x3 kernel, 6x6 output: 4 * 4 * 9 * 36.
  assert.ok(convs.every((l) => l.macs === 4 * 4 * 9 * 36));
});

test('a pool that feeds another branch joins the layer of the conv it feeds', () => {
  const layers = discoverLayers(branchModel().model);
  assert.deepEqual(layers[3].ops, ['Conv', 'MaxPool', 'Concat']);
});

test('a graph with no heavy node gets one layer per node', () => {
  const { model } = cheapOnlyModel();
  assert.equal(discoverLayers(model).length, model.graph!.node.length);
});

test('an If stays whole and anchors its own layer', () => {
  const layers = discoverLayers(ifModel().model);
  assert.deepEqual(
    layers.map((l) => l.anchorOp),
    ['MatMul', 'If', 'MatMul'],
  );
});

test('a block reads earlier values and graph inputs, never initializers, and hands on what later layers read', async () => {
  const model = await inferValueTypes(multiIoModel().model);
  const layers = discoverLayers(model);
  const cut = new ModelPartition(model, layers);
  const first = cut.boundary([0, 1]);
  assert.deepEqual(first.inputs, ['x']);
  assert.ok(first.outputs.includes('matmul'), 'matmul is a graph output and read later');
  const last = cut.boundary([layers.length - 1, layers.length]);
  assert.ok(!last.inputs.includes('shared'));
  assert.ok(!last.inputs.includes('constant'), 'Constant values are copied, not fed');
  const block = cut.extract([layers.length - 1, layers.length]);
  assert.ok(block.graph!.node.some((n) => n.opType === 'Constant'));
});

test('an If block reads the outer-scope value its branches capture', () => {
  const { model } = ifModel();
  const layers = discoverLayers(model);
  const inputs = new ModelPartition(model, layers).boundary([1, 2]).inputs;
  assert.deepEqual([...inputs].sort(), ['cond', 'matmul']);
});

test('a block carries only the initializers it uses, shared ones included', () => {
  const { model } = multiIoModel();
  const layers = discoverLayers(model);
  const block = extractBlock(model, layers, [1, 2]);
  const names = block.graph!.initializer.map((t) => t.name);
  assert.deepEqual(names, ['shared']);
});

test('cutting a block whose input type is unknown names the value', () => {
  const { model } = symbolicModel();
  const layers = discoverLayers(model);
  assert.throws(() => extractBlock(model, layers, [1, 2]), {
    code: 'partition_failed',
    message: /reads 'relu'/,
  });
});

test('an empty or out-of-range block is refused', () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  assert.throws(() => extractBlock(model, layers, [2, 2]), { code: 'partition_failed' });
  assert.throws(() => extractBlock(model, layers, [0, 9]), { code: 'partition_failed' });
});

test('block plans tile the layers at every granularity', () => {
  assert.deepEqual(planBlocks(5, 'layer'), [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
    [4, 5],
  ]);
  assert.deepEqual(planBlocks(5, 2), [
    [0, 2],
    [2, 4],
    [4, 5],
  ]);
  assert.deepEqual(planBlocks(5, 'whole'), [[0, 5]]);
  assert.deepEqual(planEvenBlocks(10, 4), [
    [0, 3],
    [3, 5],
    [5, 8],
    [8, 10],
  ]);
  assert.throws(() => planBlocks(5, 0), { code: 'invalid_argument' });
  assert.equal(parseGranularity('3'), 3);
  assert.throws(() => parseGranularity('x'), { code: 'invalid_argument' });
});

test('coarse plans put boundaries where the least crosses, evenly when all cost the same', async () => {
  assert.deepEqual(
    planCoarseBlocks(10, 2, (k) => (k === 3 ? 1 : 100)),
    [
      [0, 3],
      [3, 10],
    ],
  );
  assert.deepEqual(
    planCoarseBlocks(10, 2, () => 1),
    [
      [0, 5],
      [5, 10],
    ],
  );
  // Blocks stay within half to one and a half of the even share, however cheap a cut is.
  const lopsided = planCoarseBlocks(12, 3, (k) => (k === 1 ? 0 : 10));
  assert.ok(
    lopsided.every(([a, b]) => b - a >= 2 && b - a <= 6),
    JSON.stringify(lopsided),
  );
  const { model } = residualModel();
  const typed = await inferValueTypes(model);
  const layers = discoverLayers(typed);
  const cut = new ModelPartition(typed, layers);
  const tensorBytes = 1 * 4 * 6 * 6 * 4;
  // Inside the second residual block the skip tensor crosses too; between blocks only one does.
  // (Inside the first, the skip tensor is the graph input: the caller's, never copied out.)
  assert.equal(cut.cutBytes(2), tensorBytes);
  assert.equal(cut.cutBytes(3), 2 * tensorBytes);
  assert.equal(cut.cutBytes(1), tensorBytes);
  assert.deepEqual(
    planCoarseBlocks(layers.length, 2, (k) => cut.cutBytes(k)),
    [
      [0, 2],
      [2, 4],
    ],
  );
});

test('layer order is the file order when the file is already topologically sorted', () => {
  const { model } = branchModel();
  const flat = discoverLayers(model).flatMap((l) => l.nodes);
  assert.deepEqual(flat, topologicalOrder(model.graph!));
});

test("ORT's optimized graph maps onto the same layers, every node in exactly one", async () => {
  for (const { name, model } of [residualModel(), branchModel()]) {
    const layers = discoverLayers(model);
    const optimized = await ortOptimizedLayers(model, layers);
    assert.ok(optimized, `${name}: no mapping`);
    assert.equal(optimized.layers.length, layers.length);
    const flat = optimized.layers.flatMap((l) => l.nodes).sort((a, b) => a - b);
    assert.deepEqual(
      flat,
      optimized.model.graph!.node.map((_, i) => i),
    );
    // BatchNorm and Relu are fused into the convs: fewer nodes than the original.
    if (name === 'residual') assert.ok(optimized.model.graph!.node.length < model.graph!.node.length);
  }
});
