import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { encodeModel, type ModelProto } from '../onnx/index.js';
import { ifModel, rateSwitchModel } from './fixtures.js';
import { discoverLayers } from './layers.js';
import { specializeBranches } from './branches.js';

const rate = (hz: number) => new ort.Tensor('int64', BigInt64Array.from([BigInt(hz)]), []);
const x = new ort.Tensor(
  'float32',
  Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)),
  [1, 2, 8, 8],
);

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('specializeBranches', () => {
  it('cuts the layers of the branch a pinned input takes, and no If is left', async () => {
    const { model } = rateSwitchModel();
    assert.equal(discoverLayers(model).length, 1, 'unpinned, the If is one layer');
    const at16k = await specializeBranches(model, new Map([['rate', rate(16000)]]));
    assert.deepEqual(at16k.taken, [{ node: 'if', branch: 'then_branch' }]);
    assert.equal(discoverLayers(at16k.model).length, 4);
    assert.ok(!at16k.model.graph?.node.some((n) => n.opType === 'If'));
    const at8k = await specializeBranches(model, new Map([['rate', rate(8000)]]));
    assert.deepEqual(at8k.taken, [{ node: 'if', branch: 'else_branch' }]);
    assert.equal(discoverLayers(at8k.model).length, 2);
  });

  it('computes what the whole model computes at the pinned value, and only there', async () => {
    const { model } = rateSwitchModel();
    const { model: at16k } = await specializeBranches(model, new Map([['rate', rate(16000)]]));
    const whole = await run(model, { x, rate: rate(16000) });
    assert.deepEqual(await run(at16k, { x, rate: rate(16000) }), whole);
    const other = await run(model, { x, rate: rate(8000) });
    assert.notDeepEqual(other, whole, 'the other rate takes the other branch');
  });

  it('leaves an If whose condition the pins do not decide, and takes one a pinned flag decides', async () => {
    const { model } = ifModel();
    const flat = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const undecided = await specializeBranches(model, new Map([['x', flat]]));
    assert.deepEqual(undecided.taken, []);
    assert.ok(undecided.model.graph?.node.some((n) => n.opType === 'If'));
    const off = new ort.Tensor('bool', Uint8Array.from([0]), []);
    const decided = await specializeBranches(model, new Map([['cond', off]]));
    assert.deepEqual(
      decided.taken.map((t) => t.branch),
      ['else_branch'],
    );
    assert.deepEqual(
      await run(decided.model, { x: flat, cond: off }),
      await run(model, { x: flat, cond: off }),
    );
  });
});
