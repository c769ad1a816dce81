import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphIndex, encodeModel, loadModel, modelHash, seededRandom } from '../onnx/index.js';
import {
  ZOO_MODELS,
  buildTestModel,
  buildZooModel,
  writeZooRepository,
  type BuiltModel,
  type ModelConfig,
  type TensorSpec,
} from './index.js';

const TOLERANCE = 0.03;

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

/** Standard-normal images (what normalized pixels look like); BERT gets tokens and a padded mask. */
function feedsFor(inputs: readonly TensorSpec[], seed = 7): Record<string, ort.Tensor> {
  const random = seededRandom(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of inputs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.datatype === 'INT64') {
      const value = (k: number): bigint => {
        if (spec.name === 'input_ids') return BigInt(Math.floor(random() * 30522));
        if (spec.name === 'attention_mask') return k < n - Math.floor(n / 4) ? 1n : 0n;
        return k < n / 2 ? 0n : 1n;
      };
      feeds[spec.name] = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, k) => value(k)),
        spec.shape,
      );
      continue;
    }
    const data = Float32Array.from({ length: n }, () => {
      const u = Math.max(random(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    });
    feeds[spec.name] = new ort.Tensor('float32', data, spec.shape);
  }
  return feeds;
}

/** Runs the model once in ORT and checks every output's shape, finiteness and non-degeneracy. */
async function assertRunsFinite(built: BuiltModel, expected: readonly TensorSpec[]): Promise<void> {
  const session = await ort.InferenceSession.create(encodeModel(built.model), SESSION_OPTIONS);
  try {
    const results = await session.run(feedsFor(built.inputs));
    for (const spec of expected) {
      const out = results[spec.name];
      assert.ok(out, `output ${spec.name} missing`);
      assert.deepEqual([...out.dims], spec.shape, `${spec.name} shape`);
      const data = out.data as Float32Array;
      let sumSquares = 0;
      for (const v of data) {
        assert.ok(Number.isFinite(v), `${spec.name} has a non-finite value`);
        sumSquares += v * v;
      }
      const rms = Math.sqrt(sumSquares / data.length);
      assert.ok(rms > 1e-3 && rms < 1e3, `${spec.name} rms ${rms} is degenerate`);
    }
  } finally {
    await session.release();
  }
}

function assertNear(actual: number, published: number, what: string): void {
  const error = Math.abs(actual / published - 1);
  assert.ok(
    error <= TOLERANCE,
    `${what}: ${actual} is ${(error * 100).toFixed(1)}% from published ${published}`,
  );
}

for (const info of ZOO_MODELS) {
  test(`${info.name} matches its published size and runs in ORT with finite outputs`, async () => {
    const built = buildZooModel(info.name);
    assertNear(built.parameterCount, info.published.parameters, 'parameters');
    assertNear(built.macs, info.published.macs, 'MACs');
    assert.deepEqual(built.inputs, info.inputs);
    assert.deepEqual(built.outputs, info.outputs);
    await assertRunsFinite(built, info.outputs);
  });
}

test('every intermediate value of a zoo model has a fixed shape in value_info', () => {
  for (const name of ['googlenet', 'efficientnet-b0', 'bert-base'] as const) {
    const { model } = buildTestModel(name);
    const index = new GraphIndex(model.graph!);
    for (const node of model.graph!.node) {
      for (const out of node.output) {
        const shape = index.typeOf(out)?.shape;
        assert.ok(shape && shape.every((d) => typeof d === 'number'), `${name}: ${out} has no fixed shape`);
      }
    }
  }
});

test('the same seed gives byte-identical models and another seed different weights', () => {
  const a = modelHash(encodeModel(buildTestModel('mobilenetv2', { seed: 3 }).model));
  const b = modelHash(encodeModel(buildTestModel('mobilenetv2', { seed: 3 }).model));
  const c = modelHash(encodeModel(buildTestModel('mobilenetv2', { seed: 4 }).model));
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('test builds are small-input versions of the real architectures and run in ORT', async () => {
  const built = buildTestModel('resnet18');
  assert.deepEqual(built.inputs[0].shape, [1, 3, 64, 64]);
  assert.equal(built.parameterCount, buildZooModel('resnet18').parameterCount);
  await assertRunsFinite(built, built.outputs);
});

test('unknown model names and bad sizes are refused with the known names', () => {
  assert.throws(() => buildZooModel('alexnet' as never), /unknown zoo model 'alexnet' \(known: resnet50, /);
  assert.throws(() => buildZooModel('resnet18', { imageSize: 100 }), /multiple of 32/);
  assert.throws(() => buildZooModel('bert-base', { seqLen: 513 }), /seqLen must be an integer in \[1, 512\]/);
});

test('a written repository holds each model file and a config naming its tensors and QoS target', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'veltair-zoo-'));
  try {
    const phases: string[] = [];
    const written = await writeZooRepository(dir, ['mobilenetv2', 'resnet18'], (e) =>
      phases.push(`${e.model}:${e.phase}`),
    );
    assert.deepEqual(phases, [
      'mobilenetv2:building',
      'mobilenetv2:writing',
      'mobilenetv2:done',
      'resnet18:building',
      'resnet18:writing',
      'resnet18:done',
    ]);
    const [mobile] = written;
    assert.equal(mobile.modelPath, join(dir, 'mobilenetv2', '1', 'model.onnx'));
    assert.equal((await stat(mobile.modelPath)).size, mobile.fileBytes);
    const reloaded = await loadModel(mobile.modelPath);
    assert.equal(reloaded.graph?.node.length, buildZooModel('mobilenetv2').model.graph?.node.length);
    const config = JSON.parse(await readFile(mobile.configPath, 'utf8')) as ModelConfig;
    assert.deepEqual(config, {
      name: 'mobilenetv2',
      platform: 'onnxruntime',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 1000] }],
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
