import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  GraphIndex,
  ORT_TYPE_NAME,
  loadModel,
  loadTensor,
  tensorValues,
  type TensorProto,
} from '../onnx/index.js';
import { discoverLayers, planBlocks } from '../partition/index.js';
import { BlockExecutor, compareOutputs, openModelSession } from './index.js';
import { type TensorMap } from '../partition/index.js';
import { type SessionConfig } from '../partition/index.js';

const CORPUS = '/usr/share/libonnx-testdata/data';
const CONFIG: SessionConfig = { threads: 1, optimization: 'all', spinning: false };

type Outcome = 'passed' | 'failed' | 'unsupported';

interface CaseResult {
  dir: string;
  outcome: Outcome;
  layers: number;
  why?: string;
}

async function testDirs(): Promise<string[]> {
  const dirs: string[] = [];
  for (const suite of await readdir(CORPUS)) {
    for (const name of await readdir(join(CORPUS, suite))) {
      const dir = join(CORPUS, suite, name);
      if (existsSync(join(dir, 'model.onnx')) && existsSync(join(dir, 'test_data_set_0'))) dirs.push(dir);
    }
  }
  return dirs.sort();
}

function toOrt(t: TensorProto): ort.Tensor {
  const type = ORT_TYPE_NAME[t.dataType];
  if (!type) throw new Error(`data type ${t.dataType}`);
  return new ort.Tensor(type as 'float32', tensorValues(t) as Float32Array, t.dims.map(Number));
}

/** Reads test_data_set_0: inputs by name (or position), expected outputs by name (or position). */
async function readDataSet(dir: string, inputNames: string[], outputNames: string[]) {
  const files = await readdir(join(dir, 'test_data_set_0'));
  const load = async (prefix: string, names: string[]): Promise<TensorMap> => {
    const map: TensorMap = {};
    const list = files
      .filter((f) => f.startsWith(prefix))
      .sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)));
    for (const [i, f] of list.entries()) {
      const t = await loadTensor(join(dir, 'test_data_set_0', f));
      map[names.includes(t.name) ? t.name : names[i]] = toOrt(t);
    }
    return map;
  };
  return { inputs: await load('input_', inputNames), expected: await load('output_', outputNames) };
}

async function checkCase(dir: string): Promise<CaseResult> {
  const unsupported = (why: string): CaseResult => ({ dir, outcome: 'unsupported', layers: 0, why });
  let model;
  let data;
  let reference: TensorMap;
  try {
    model = await loadModel(join(dir, 'model.onnx'));
    const index = new GraphIndex(model.graph!);
    data = await readDataSet(
      dir,
      index.feedInputs.map((v) => v.name),
      model.graph!.output.map((o) => o.name),
    );
    const session = await openModelSession(model, CONFIG, dir);
    try {
      reference = (await session.run(data.inputs)) as TensorMap;
    } finally {
      await session.release();
    }
  } catch (err) {
    return unsupported(`ORT cannot run it: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!compareOutputs(data.expected, reference).ok)
    return unsupported('ORT disagrees with the expected outputs');
  const layers = discoverLayers(model);
  try {
    // Both cuts the executor makes: the original graph, and ORT's optimized graph.
    for (const preoptimize of [false, true]) {
      const executor = await BlockExecutor.create(model, layers, planBlocks(layers, 'layer'), CONFIG, dir, {
        preoptimize,
      });
      try {
        const cmp = compareOutputs(data.expected, await executor.run(data.inputs));
        if (!cmp.ok) {
          const why = `${preoptimize ? 'optimized' : 'original'} cut: maxRelDiff ${cmp.maxRelDiff}`;
          return { dir, outcome: 'failed', layers: layers.length, why };
        }
      } finally {
        await executor.release();
      }
    }
    return { dir, outcome: 'passed', layers: layers.length };
  } catch (err) {
    return { dir, outcome: 'failed', layers: layers.length, why: (err as Error).message.split('\n')[0] };
  }
}

test('every ONNX test model that ORT runs gives the expected outputs block by block', async (t) => {
  if (!existsSync(CORPUS)) {
    t.skip(`libonnx-testdata is not installed (${CORPUS} missing): apt-get install libonnx-testdata`);
    return;
  }
  const dirs = await testDirs();
  const results: CaseResult[] = [];
  for (const dir of dirs) results.push(await checkCase(dir));
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const failed = results.filter((r) => r.outcome === 'failed');
  t.diagnostic(
    `${dirs.length} models: ${count('passed')} passed, ${count('unsupported')} not runnable by ORT, ${failed.length} failed`,
  );
  t.diagnostic(
    `multi-layer models passed: ${results.filter((r) => r.outcome === 'passed' && r.layers > 1).length}`,
  );
  for (const f of failed) t.diagnostic(`FAILED ${f.dir}: ${f.why}`);
  if (process.env.VELTAIR_CORPUS_VERBOSE)
    for (const r of results) if (r.outcome === 'unsupported') t.diagnostic(`SKIP ${r.dir}: ${r.why}`);
  assert.deepEqual(
    failed.map((f) => `${f.dir}: ${f.why}`),
    [],
  );
  assert.ok(count('passed') >= 600, `only ${count('passed')} models passed`);
});
