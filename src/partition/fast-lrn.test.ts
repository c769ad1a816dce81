import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, encodeModel, makeModel, type ModelProto } from '../onnx/index.js';
import { withFastLrn } from './fast-lrn.js';
import { discoverLayers } from './layers.js';

interface LrnCase {
  channels: number;
  size: number;
  beta: number;
}

/**
 * Conv -> LRN -> Relu on [1, channels, 6, 5], the LRN between two layers as in GoogLeNet; no
 * intermediate's type is declared, as in many exported files.
 */
function lrnModel({ channels, size, beta }: LrnCase): ModelProto {
  const g = new GraphBuilder('lrn', 3);
  const x = g.input('x', [1, channels, 6, 5]);
  const conv = g.op('Conv', [x, g.weight('w', [channels, channels, 1, 1], 0.8)], { kernel_shape: [1, 1] });
  const lrn = g.op('LRN', [conv], {
    size,
    alpha: { float: 0.02 },
    beta: { float: beta },
    bias: { float: 2 },
  });
  const y = g.op('Relu', [lrn]);
  g.output(y, [1, channels, 6, 5]);
  return makeModel(g.build(), 17);
}

async function run(model: ModelProto, input: Float32Array, channels: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', input, [1, channels, 6, 5]) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

const ops = (model: ModelProto) => model.graph?.node.map((n) => n.opType) ?? [];

describe('withFastLrn', () => {
  const cases: LrnCase[] = [
    { channels: 7, size: 5, beta: 0.75 },
    { channels: 6, size: 3, beta: 0.75 },
    { channels: 3, size: 1, beta: 0.6 },
    { channels: 9, size: 3, beta: 0.5 },
    { channels: 5, size: 11, beta: 1 },
  ];
  for (const c of cases) {
    it(`computes what ORT's LRN computes (${c.channels} channels, size ${c.size}, beta ${c.beta})`, async () => {
      const model = lrnModel(c);
      const fast = await withFastLrn(model);
      assert.ok(!ops(fast).includes('LRN'), 'no LRN is left');
      const input = Float32Array.from({ length: c.channels * 30 }, (_, i) => 3 * Math.sin(i * 0.7));
      const expected = await run(model, input, c.channels);
      const got = await run(fast, input, c.channels);
      assert.ok(maxAbsDiff(expected, got) < 1e-5, `max |diff| ${maxAbsDiff(expected, got)}`);
      assert.equal(fast.graph?.output[0].name, model.graph?.output[0].name, 'the output keeps its name');
    });
  }

  it('opens a layer at the window sum, so the slow part of an LRN layer can be scheduled apart', async () => {
    const model = lrnModel({ channels: 7, size: 5, beta: 0.75 });
    assert.equal(discoverLayers(model).length, 1);
    assert.equal(discoverLayers(await withFastLrn(model)).length, 2);
  });

  it('returns a model without LRN as it is, and leaves an LRN of unknown type alone', async () => {
    const p = new GraphBuilder('plain', 1);
    p.output(p.op('Relu', [p.input('x', [1, 4, 4, 4])]));
    const plain = makeModel(p.build(), 17);
    assert.equal(await withFastLrn(plain), plain);

    const g = new GraphBuilder('untyped', 1);
    const x = g.input('x', ['n', 'c', 4, 4]);
    g.output(g.op('LRN', [x], { size: 3 }));
    const untyped = makeModel(g.build(), 17);
    assert.deepEqual(ops(await withFastLrn(untyped)), ['LRN'], 'the channel count is not known');
  });
});
