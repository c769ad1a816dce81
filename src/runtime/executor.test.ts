import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { discoverLayers, planBlocks, type BlockRange } from '../partition/index.js';
import { allFixtures, initializerInputModel, residualModel, symbolicModel } from '../partition/fixtures.js';
import { BlockExecutor, compareOutputs, executionPartition, openModelSession } from './index.js';
import { seededInputs, type TensorMap } from '../partition/index.js';
import { type SessionConfig } from '../partition/index.js';

const CONFIG: SessionConfig = { threads: 1, optimization: 'all', spinning: false };

/** Every way to cut `n` layers into consecutive blocks (2^(n-1) plans), or a sample when large. */
function allPlans(n: number): BlockRange[][] {
  if (n > 7) return [planBlocks(n, 'layer'), planBlocks(n, 2), planBlocks(n, 3), planBlocks(n, 'whole')];
  const plans: BlockRange[][] = [];
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const plan: BlockRange[] = [];
    let from = 0;
    for (let i = 1; i <= n; i++) {
      if (i === n || mask & (1 << (i - 1))) {
        plan.push([from, i]);
        from = i;
      }
    }
    plans.push(plan);
  }
  return plans;
}

async function runWhole(fixtureModel: Parameters<typeof openModelSession>[0], feeds: TensorMap) {
  const session = await openModelSession(fixtureModel, CONFIG);
  try {
    return (await session.run(feeds)) as TensorMap;
  } finally {
    await session.release();
  }
}

for (const fixture of allFixtures()) {
  for (const preoptimize of [false, true]) {
    const cut = preoptimize ? "ORT's optimized graph" : 'the original graph';
    test(`${fixture.name}: every block plan cut from ${cut} gives the whole model's outputs`, async () => {
      const layers = discoverLayers(fixture.model);
      const feeds = seededInputs(fixture.model, { seed: 7, shapes: new Map(Object.entries(fixture.shapes)) });
      if (fixture.name === 'if') feeds.cond = new ort.Tensor('bool', Uint8Array.from([1]), []);
      const expected = await runWhole(fixture.model, feeds);
      for (const plan of allPlans(layers.length)) {
        const executor = await BlockExecutor.create(fixture.model, layers, plan, CONFIG, fixture.name, {
          preoptimize,
        });
        try {
          const got = await executor.run(feeds);
          const cmp = compareOutputs(expected, got);
          assert.ok(cmp.ok, `plan ${JSON.stringify(plan)}: ${JSON.stringify(cmp.outputs)}`);
          assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort());
          if (!preoptimize) assert.equal(executor.preoptimized, false);
        } finally {
          await executor.release();
        }
      }
    });
  }
}

test("a ResNet-style model is cut from ORT's optimized graph at optimization all, not at extended", async () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  const all = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  const extended = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), {
    ...CONFIG,
    optimization: 'extended',
  });
  try {
    assert.equal(all.preoptimized, true);
    assert.equal(extended.preoptimized, false);
    // Plans weigh boundaries on the partition the executor cuts.
    const planned = await executionPartition(model, layers, [CONFIG]);
    assert.equal(planned.preoptimized, true);
    assert.equal(
      (await executionPartition(model, layers, [{ ...CONFIG, optimization: 'extended' }])).preoptimized,
      false,
    );
    assert.equal(
      planned.cut.model.graph?.node.some((n) => n.domain === 'com.microsoft.nchwc'),
      true,
    );
    // Executors of one model may share it, and give the same answers.
    const shared = await BlockExecutor.create(model, layers, planBlocks(layers, 2), CONFIG, 'm', {
      partition: planned,
    });
    try {
      assert.equal(shared.preoptimized, true);
      const feeds = seededInputs(model, { seed: 5 });
      const diff = compareOutputs(await all.run(feeds), await shared.run(feeds));
      assert.equal(diff.maxAbsDiff, 0);
    } finally {
      await shared.release();
    }
    await assert.rejects(
      BlockExecutor.create(
        model,
        layers,
        planBlocks(layers, 'layer'),
        { ...CONFIG, optimization: 'extended' },
        'm',
        {
          partition: planned,
        },
      ),
      /serves only blocks at optimization all/,
    );
  } finally {
    await all.release();
    await extended.release();
  }
});

test('an initializer that is also a graph input acts as in the whole model, read by every block', async () => {
  const { model } = initializerInputModel();
  const layers = discoverLayers(model);
  const feeds = seededInputs(model, { seed: 3 });
  const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  try {
    const withDefault = await executor.run(feeds);
    assert.ok(compareOutputs(await runWhole(model, feeds), withDefault).ok);
    const overridden = { ...feeds, bias: new ort.Tensor('float32', new Float32Array([5, 5, 5, 5]), [4]) };
    const got = await executor.run(overridden);
    // onnxruntime-node does not expose initializer-inputs as inputs: a feed for one is ignored,
    // whole or in blocks alike.
    assert.ok(compareOutputs(await runWhole(model, overridden), got).ok);
    assert.deepEqual(
      executor.blocks.map((b) => b.inputs.includes('bias')),
      [true, true],
    );
  } finally {
    await executor.release();
  }
});

test('a block plan with per-block configs runs each block with its own session settings', async () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  const configs: SessionConfig[] = [
    { threads: 1, optimization: 'all', spinning: false },
    { threads: 2, optimization: 'extended', spinning: false },
    { threads: 1, optimization: 'disabled', spinning: true },
  ];
  const plan: BlockRange[] = [
    [0, 1],
    [1, 3],
    [3, 4],
  ];
  const executor = await BlockExecutor.create(model, layers, plan, configs);
  try {
    assert.deepEqual(
      executor.blocks.map((b) => b.config.optimization),
      ['all', 'extended', 'disabled'],
    );
    const feeds = seededInputs(model);
    assert.ok(compareOutputs(await runWhole(model, feeds), await executor.run(feeds)).ok);
  } finally {
    await executor.release();
  }
});

test('intermediate values are released after their last reader', async () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  try {
    // Block 1 is the last to read the first block's output (its conv) and the input x (its
    // skip Add); block 3 writes the graph output, which is never released.
    assert.deepEqual(
      [...executor.blocks[1].releaseAfter].sort(),
      [...executor.blocks[0].outputs, 'x'].sort(),
    );
    const last = executor.blocks[3];
    assert.ok(last.outputs.every((o) => !last.releaseAfter.includes(o)));
    assert.deepEqual([...last.releaseAfter].sort(), [...last.inputs].sort());
  } finally {
    await executor.release();
  }
});

test("intermediate tensors are freed after their last reader; the caller's feeds and the outputs never are", async () => {
  assert.equal(
    typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer,
    'function',
    "tests run with the launcher's V8 features (--harmony-rab-gsab-transfer)",
  );
  const { model } = residualModel();
  const layers = discoverLayers(model);
  const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  try {
    const handedOn: ort.Tensor[] = [];
    for (const block of executor.blocks.slice(0, -1)) {
      const run = block.session.run.bind(block.session);
      Object.assign(block.session, {
        run: async (feeds: TensorMap) => {
          const results = await run(feeds);
          handedOn.push(...block.outputs.map((o) => results[o] as ort.Tensor));
          return results;
        },
      });
    }
    const feeds = seededInputs(model, { seed: 3 });
    const first = await executor.run(feeds);
    assert.equal(handedOn.length, 3);
    for (const t of handedOn) assert.equal((t.data as Float32Array).byteLength, 0, 'freed');
    assert.ok((feeds.x.data as Float32Array).byteLength > 0, 'feeds untouched');
    const again = await executor.run(feeds);
    for (const name of executor.outputNames) {
      const kept = first[name].data as Float32Array;
      assert.ok(kept.byteLength > 0, `output ${name} of the first run untouched`);
      assert.deepEqual(Array.from(again[name].data as Float32Array), Array.from(kept));
    }
  } finally {
    await executor.release();
  }
});

test('blocks that do not tile the layers are refused', async () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  await assert.rejects(
    BlockExecutor.create(
      model,
      layers,
      [
        [0, 2],
        [3, 4],
      ],
      CONFIG,
    ),
    /do not cover layers \[0, 4\)/,
  );
});

test('repeated runs with new inputs and new symbolic sizes each match the whole model', async () => {
  const { model } = symbolicModel();
  const layers = discoverLayers(model);
  const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  try {
    const outputs: TensorMap[] = [];
    for (const [seed, n] of [
      [1, 3],
      [2, 3],
      [3, 5],
      [1, 3],
    ]) {
      const feeds = seededInputs(model, { seed, shapes: new Map([['x', [n, 8]]]) });
      const got = await executor.run(feeds);
      assert.deepEqual(got.softmax.dims, [n, 3]);
      assert.ok(compareOutputs(await runWhole(model, feeds), got).ok, `seed ${seed}, N ${n}`);
      outputs.push(got);
    }
    // Outputs handed to the caller are never overwritten by later runs.
    assert.ok(!compareOutputs(outputs[0], outputs[1]).ok);
    assert.ok(compareOutputs(outputs[0], outputs[3]).ok);
  } finally {
    await executor.release();
  }
});

test('concurrent runs of one executor each get their own answer', async () => {
  const { model } = residualModel();
  const layers = discoverLayers(model);
  const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG);
  try {
    const feeds = [1, 2, 3].map((seed) => seededInputs(model, { seed }));
    const got = await Promise.all(feeds.map((f) => executor.run(f)));
    for (const [i, f] of feeds.entries()) assert.ok(compareOutputs(await runWhole(model, f), got[i]).ok);
  } finally {
    await executor.release();
  }
});
