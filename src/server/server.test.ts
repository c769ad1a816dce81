import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { encodeModel, loadModel, loadTensor, tensorValues, type ModelProto } from '../onnx/index.js';
import {
  branchModel,
  multiIoModel,
  rateSwitchModel,
  residualModel,
  symbolicModel,
} from '../partition/fixtures.js';
import { compareOutputs, openModelSession } from '../runtime/index.js';
import { seededInputs, type TensorMap } from '../partition/index.js';
import { DEFAULT_SESSION_CONFIG } from '../partition/index.js';
import { buildZooModel } from '../zoo/index.js';
import { parseParams, policySpec } from '../sched/index.js';
import { VeltairServer } from './server.js';
import { datatypeOf, loadInferenceService } from '../load/index.js';

/** ONNX's own conformance model (not written here), with its inputs and expected output. */
const CONFORMANCE = '/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding';
const BODY_LIMIT = 4 * 1024 * 1024;
const rate16k = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);

interface Case {
  feeds: TensorMap;
  expected: TensorMap;
}

async function writeModel(repo: string, name: string, model: ModelProto, config: object): Promise<string> {
  await mkdir(join(repo, name, '1'), { recursive: true });
  const path = join(repo, name, '1', 'model.onnx');
  await writeFile(path, encodeModel(model));
  await writeFile(
    join(repo, name, 'config.json'),
    JSON.stringify({ name, platform: 'onnxruntime', ...config }),
  );
  return path;
}

/** Seeded inputs (at `shapes`, `fixed` ones as given) and the whole model's answer, run directly in ORT. */
async function directCase(
  path: string,
  shapes?: ReadonlyMap<string, number[]>,
  fixed: TensorMap = {},
): Promise<Case> {
  const model = await loadModel(path);
  const feeds = { ...seededInputs(model, { seed: 5, shapes }), ...fixed };
  const session = await openModelSession(model, DEFAULT_SESSION_CONFIG);
  const expected = (await session.run(feeds)) as TensorMap;
  await session.release();
  return { feeds, expected };
}

function jsonInputs(feeds: TensorMap) {
  return Object.entries(feeds).map(([name, t]) => ({
    name,
    shape: [...t.dims],
    datatype: datatypeOf(t.type),
    data: Array.from(t.data as ArrayLike<number | bigint>, Number),
  }));
}

function jsonOutputs(body: { outputs: { name: string; shape: number[]; data: number[] }[] }): TensorMap {
  return Object.fromEntries(
    body.outputs.map((o) => [o.name, new ort.Tensor('float32', Float32Array.from(o.data), o.shape)]),
  );
}

/** A request in Triton's binary tensor extension: JSON header, then each input's raw bytes. */
function binaryRequest(feeds: TensorMap, extra: object = {}): { body: Buffer; headerLength: number } {
  const parts = Object.values(feeds).map((t) => {
    const d = t.data as Float32Array;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  });
  const header = Buffer.from(
    JSON.stringify({
      inputs: Object.entries(feeds).map(([name, t], k) => ({
        name,
        shape: [...t.dims],
        datatype: datatypeOf(t.type),
        parameters: { binary_data_size: parts[k].length },
      })),
      ...extra,
    }),
  );
  return { body: Buffer.concat([header, ...parts]), headerLength: header.length };
}

describe('veltair serve (Open Inference Protocol over HTTP and gRPC, on the live engine)', () => {
  let repo: string;
  let server: VeltairServer;
  let url: string;
  const cases = new Map<string, Case>();
  let client: grpc.Client;

  type Callback<T> = (err: grpc.ServiceError | null, response: T) => void;
  const rpc = <T>(method: string, request: object) =>
    new Promise<T>((resolve, reject) => {
      const stub = client as unknown as Record<string, (req: object, cb: Callback<T>) => void>;
      stub[method].call(client, request, (err, response) => (err ? reject(err) : resolve(response)));
    });
  const grpcInputs = (feeds: TensorMap) =>
    Object.entries(feeds).map(([name, t]) => ({ name, datatype: datatypeOf(t.type), shape: [...t.dims] }));
  const rawOf = (t: ort.Tensor) => {
    const d = t.data as Float32Array;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  };
  /** `expected`'s (float32) outputs asked for one after the other in `region`, and their bytes. */
  const outputPlaces = (expected: TensorMap, region: string) => {
    let bytes = 0;
    const outputs = Object.entries(expected).map(([name, t]) => {
      const parameters = {
        shared_memory_region: region,
        shared_memory_offset: bytes,
        shared_memory_byte_size: 4 * t.size,
      };
      bytes += 4 * t.size;
      return { name, parameters };
    });
    return { outputs, bytes };
  };
  type GrpcAnswer = {
    id: string;
    outputs: { name: string; shape: number[] }[];
    raw_output_contents: Buffer[];
  };
  const grpcOutputs = (r: GrpcAnswer): TensorMap =>
    Object.fromEntries(
      r.outputs.map((o, k) => [
        o.name,
        new ort.Tensor(
          'float32',
          new Float32Array(Uint8Array.from(r.raw_output_contents[k]).buffer),
          o.shape,
        ),
      ]),
    );

  const infer = (model: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  const jsonInfer = async (model: string) => {
    const r = await infer(model, { id: `${model}-1`, inputs: jsonInputs(cases.get(model)!.feeds) });
    assert.equal(r.status, 200, `${model}: ${await r.clone().text()}`);
    return (await r.json()) as {
      id: string;
      model_name: string;
      outputs: { name: string; shape: number[]; data: number[] }[];
    };
  };
  const assertAnswers = async (model: string) => {
    const body = await jsonInfer(model);
    const cmp = compareOutputs(cases.get(model)!.expected, jsonOutputs(body));
    assert.ok(cmp.ok, `${model}: answer differs from ORT's by ${cmp.maxRelDiff}`);
  };

  before(async () => {
    repo = await mkdtemp(join(tmpdir(), 'veltair-serve-'));
    // Targets no scheduling delay on a loaded test machine can miss: these tests check answers.
    const settings = { qosTargetMs: 5000 };
    const paths = {
      residual: await writeModel(repo, 'residual', residualModel().model, settings),
      branch: await writeModel(repo, 'branch', branchModel().model, settings),
      multi: await writeModel(repo, 'multi', multiIoModel().model, settings),
      mobilenetv2: await writeModel(repo, 'mobilenetv2', buildZooModel('mobilenetv2').model, {
        qosTargetMs: 10000,
        maxQueue: 1,
      }),
    };
    for (const [name, path] of Object.entries(paths)) cases.set(name, await directCase(path));
    // A symbolic batch dim, pinned by the config; and a pin the model's fixed dims contradict.
    const pinned = await writeModel(repo, 'pinned', symbolicModel().model, {
      ...settings,
      inputShapes: { x: [5, 8] },
    });
    cases.set('pinned', await directCase(pinned, new Map([['x', [5, 8]]])));
    await writeModel(repo, 'badpin', symbolicModel().model, { inputShapes: { x: [5, 9] } });
    // The whole network inside an If on a sample rate the config pins: served as that branch.
    const rates = await writeModel(repo, 'rates', rateSwitchModel().model, {
      ...settings,
      inputValues: { rate: 16000 },
    });
    cases.set('rates', await directCase(rates, undefined, { rate: rate16k }));
    if (existsSync(CONFORMANCE)) {
      await mkdir(join(repo, 'conformance', '1'), { recursive: true });
      await copyFile(join(CONFORMANCE, 'model.onnx'), join(repo, 'conformance', '1', 'model.onnx'));
      await writeFile(join(repo, 'conformance', 'config.json'), JSON.stringify(settings));
      const tensor = async (file: string) => {
        const p = await loadTensor(join(CONFORMANCE, 'test_data_set_0', file));
        return new ort.Tensor('float32', tensorValues(p) as Float32Array, p.dims.map(Number));
      };
      cases.set('conformance', {
        feeds: { x: await tensor('input_0.pb'), W: await tensor('input_1.pb') },
        expected: { y: await tensor('output_0.pb') },
      });
    }
    await mkdir(join(repo, 'broken', '1'), { recursive: true });
    await writeFile(join(repo, 'broken', '1', 'model.onnx'), 'this is not an ONNX model');
    server = await VeltairServer.start({
      repository: repo,
      httpPort: 0,
      grpcPort: 0,
      bodyLimitBytes: BODY_LIMIT,
      allowClientShm: true,
    });
    url = server.url;
    const Service = loadInferenceService();
    client = new Service(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await server?.close();
    await rm(repo, { recursive: true, force: true });
  });

  it('answers health, server metadata and model metadata per the protocol', async () => {
    assert.deepEqual(await (await fetch(`${url}/v2/health/live`)).json(), { live: true });
    const ready = await fetch(`${url}/v2/health/ready`);
    assert.equal(ready.status, 200);
    const meta = (await (await fetch(`${url}/v2`)).json()) as { name: string; extensions: string[] };
    assert.equal(meta.name, 'veltair');
    assert.ok(meta.extensions.includes('binary_tensor_data'));
    assert.ok(meta.extensions.includes('system_shared_memory'));
    const model = (await (await fetch(`${url}/v2/models/residual`)).json()) as {
      name: string;
      versions: string[];
      inputs: { name: string; datatype: string; shape: number[] }[];
      parameters: { profile: string; qos_target_ms: number };
    };
    assert.equal(model.name, 'residual');
    assert.deepEqual(model.versions, ['1']);
    assert.deepEqual(
      model.inputs.map((i) => i.name),
      Object.keys(cases.get('residual')!.feeds),
    );
    assert.equal(model.parameters.profile, 'estimated', 'no compiled profile: served whole, and it says so');
    assert.equal(model.parameters.qos_target_ms, 5000);
    const pinned = (await (await fetch(`${url}/v2/models/pinned`)).json()) as typeof model;
    assert.deepEqual(pinned.inputs[0].shape, [5, 8], 'the config pins the symbolic dim');
    const rates = (await (await fetch(`${url}/v2/models/rates`)).json()) as {
      parameters: { pinned_inputs: Record<string, number[]> };
    };
    assert.deepEqual(rates.parameters.pinned_inputs, { rate: [16000] });
    const versioned = await fetch(`${url}/v2/models/residual/versions/1/ready`);
    assert.deepEqual(await versioned.json(), { name: 'residual', ready: true });
  });

  it('lists the repository, with the broken model unavailable and its reason', async () => {
    const index = (await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json()) as {
      name: string;
      state: string;
      reason: string;
    }[];
    const broken = index.find((m) => m.name === 'broken');
    assert.equal(broken?.state, 'UNAVAILABLE');
    assert.match(broken?.reason ?? '', /not an ONNX model/);
    const badpin = index.find((m) => m.name === 'badpin');
    assert.equal(badpin?.state, 'UNAVAILABLE');
    assert.match(badpin?.reason ?? '', /input 'x': dim 1 is fixed at 8 by the model, got 9/);
    assert.ok(index.filter((m) => m.state === 'READY').length >= 4);
  });

  it('answers JSON requests to several models at once with the outputs of a direct ORT run', async () => {
    const models = [...cases.keys()].filter((m) => m !== 'mobilenetv2');
    await Promise.all(models.flatMap((m) => [assertAnswers(m), assertAnswers(m), assertAnswers(m)]));
    const body = await jsonInfer('residual');
    assert.equal(body.id, 'residual-1');
    assert.equal(body.model_name, 'residual');
  });

  it('serves a model nobody here wrote (ONNX conformance data) with its expected output', async (t) => {
    if (!cases.has('conformance')) {
      t.skip(`libonnx-testdata is not installed (${CONFORMANCE} missing)`);
      return;
    }
    await assertAnswers('conformance');
  });

  it('takes and returns tensors in the binary extension', async () => {
    const { feeds, expected } = cases.get('multi')!;
    const { body, headerLength } = binaryRequest(feeds, { parameters: { binary_data_output: true } });
    const r = await infer('multi', body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
    });
    assert.equal(r.status, 200, await r.clone().text());
    const bytes = Buffer.from(await r.arrayBuffer());
    const jsonLength = Number(r.headers.get('inference-header-content-length'));
    const header = JSON.parse(bytes.subarray(0, jsonLength).toString()) as {
      outputs: { name: string; shape: number[]; parameters: { binary_data_size: number } }[];
    };
    let offset = jsonLength;
    const actual: TensorMap = {};
    for (const o of header.outputs) {
      const raw = bytes.subarray(offset, offset + o.parameters.binary_data_size);
      offset += raw.length;
      actual[o.name] = new ort.Tensor('float32', new Float32Array(Uint8Array.from(raw).buffer), o.shape);
    }
    assert.equal(offset, bytes.length, 'every byte of the body belongs to an output');
    assert.ok(compareOutputs(expected, actual).ok);
  });

  it('takes inputs from and writes outputs to system shared memory, over HTTP and gRPC', async () => {
    const { feeds, expected } = cases.get('multi')!;
    // Every input in one /dev/shm object, one after the other; the outputs go to another.
    const parts = Object.values(feeds).map(rawOf);
    const key = `veltair-test-${process.pid}`;
    await writeFile(join('/dev/shm', `${key}-in`), Buffer.concat(parts));
    const { outputs, bytes: outBytes } = outputPlaces(expected, 'out');
    await writeFile(join('/dev/shm', `${key}-out`), Buffer.alloc(outBytes));
    const post = (path: string, body?: object) =>
      fetch(`${url}/v2/systemsharedmemory${path}`, {
        method: 'POST',
        ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
    try {
      const total = parts.reduce((n, p) => n + p.length, 0);
      assert.equal(
        (await post('/region/in/register', { key: `/${key}-in`, offset: 0, byte_size: total })).status,
        200,
      );
      assert.equal(
        (await post('/region/out/register', { key: `/${key}-out`, offset: 0, byte_size: outBytes })).status,
        200,
      );
      const status = (await (
        await fetch(`${url}/v2/systemsharedmemory/region/in/status`)
      ).json()) as object[];
      assert.deepEqual(status, [{ name: 'in', key: `/${key}-in`, offset: 0, byte_size: total }]);
      let at = 0;
      const inputs = jsonInputs(feeds).map(({ data: _data, ...tensor }, k) => {
        const parameters = {
          shared_memory_region: 'in',
          shared_memory_offset: at,
          shared_memory_byte_size: parts[k].length,
        };
        at += parts[k].length;
        return { ...tensor, parameters };
      });
      const r = await infer('multi', JSON.stringify({ inputs, outputs }));
      assert.equal(r.status, 200, await r.clone().text());
      const answer = (await r.json()) as {
        outputs: {
          name: string;
          shape: number[];
          data?: unknown;
          parameters: { shared_memory_offset: number; shared_memory_byte_size: number };
        }[];
      };
      const written = await readFile(join('/dev/shm', `${key}-out`));
      const actual: TensorMap = {};
      for (const o of answer.outputs) {
        assert.equal(o.data, undefined, 'an output in shared memory is not in the body');
        const { shared_memory_offset: offset, shared_memory_byte_size: size } = o.parameters;
        const raw = Uint8Array.from(written.subarray(offset, offset + size));
        actual[o.name] = new ort.Tensor('float32', new Float32Array(raw.buffer), o.shape);
      }
      assert.ok(compareOutputs(expected, actual).ok, "outputs written to shared memory are the direct run's");

      // gRPC: registered regions are the same; inputs by place, outputs as raw contents.
      const regions = await rpc<{ regions: Record<string, { byte_size: number }> }>(
        'SystemSharedMemoryStatus',
        {},
      );
      assert.deepEqual(Object.keys(regions.regions).sort(), ['in', 'out']);
      const grpcAnswer = await rpc<GrpcAnswer>('ModelInfer', {
        model_name: 'multi',
        inputs: inputs.map((t) => ({
          name: t.name,
          datatype: t.datatype,
          shape: t.shape,
          parameters: {
            shared_memory_region: { string_param: 'in' },
            shared_memory_offset: { int64_param: t.parameters.shared_memory_offset },
            shared_memory_byte_size: { int64_param: t.parameters.shared_memory_byte_size },
          },
        })),
      });
      assert.ok(compareOutputs(expected, grpcOutputs(grpcAnswer)).ok, 'gRPC inputs read from shared memory');

      const tooSmall = await infer(
        'multi',
        JSON.stringify({
          inputs,
          outputs: outputs.map((o) => ({
            ...o,
            parameters: { ...o.parameters, shared_memory_byte_size: 4 },
          })),
        }),
      );
      assert.equal(tooSmall.status, 400);
      assert.equal(((await tooSmall.json()) as { code: string }).code, 'invalid_shared_memory');
      assert.equal((await post('/region/in/unregister')).status, 200);
      const gone = await infer('multi', JSON.stringify({ inputs }));
      assert.equal(gone.status, 400);
      assert.equal(((await gone.json()) as { code: string }).code, 'unknown_region');
      await rpc('SystemSharedMemoryUnregister', {});
      assert.deepEqual(await (await fetch(`${url}/v2/systemsharedmemory/status`)).json(), []);
      const missing = await post('/region/x/register', { key: `/${key}-missing`, byte_size: 4 });
      assert.equal(missing.status, 400);
      await assertAnswers('multi');
    } finally {
      await rm(join('/dev/shm', `${key}-in`), { force: true });
      await rm(join('/dev/shm', `${key}-out`), { force: true });
    }
  });

  it('counts a query whose output cannot be written to shared memory as failed, not answered', async () => {
    const { feeds, expected } = cases.get('multi')!;
    const key = `veltair-test-${process.pid}-late`;
    const { outputs, bytes: outBytes } = outputPlaces(expected, 'late');
    await writeFile(join('/dev/shm', key), Buffer.alloc(outBytes));
    const counted = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const of = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return {
        answered: of(/^veltair_success_total\{model="multi"\} (\d+)$/m),
        outputFailures: of(/^veltair_failure_total\{model="multi",reason="output"\} (\d+)$/m),
      };
    };
    try {
      const register = JSON.stringify({ key: `/${key}`, offset: 0, byte_size: outBytes });
      const registered = await fetch(`${url}/v2/systemsharedmemory/region/late/register`, {
        method: 'POST',
        body: register,
      });
      assert.equal(registered.status, 200);
      const before = await counted();
      // Pipelined on one connection: the server decodes the query (its output place resolved),
      // then unregisters the region while the query runs, so the write after it must fail.
      const query = JSON.stringify({ inputs: jsonInputs(feeds), outputs });
      const { hostname, port } = new URL(url);
      const answers = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname);
        let text = '';
        socket.on('data', (d) => (text += d.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.write(
          `POST /v2/models/multi/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(query)}\r\n\r\n${query}` +
            `POST /v2/systemsharedmemory/region/late/unregister HTTP/1.1\r\nHost: x\r\n` +
            `Content-Length: 0\r\nConnection: close\r\n\r\n`,
        );
      });
      const statuses = [...answers.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.deepEqual(statuses, [400, 200], answers);
      assert.match(answers, /"code":"unknown_region"/);
      const after = await counted();
      assert.equal(after.answered, before.answered, 'a query whose output was not written is not answered');
      assert.equal(after.outputFailures, before.outputFailures + 1);
      await assertAnswers('multi');
    } finally {
      await rm(join('/dev/shm', key), { force: true });
    }
  });

  it('rejects bad requests with a precise status and error, and keeps serving', async () => {
    const feeds = cases.get('residual')!.feeds;
    const [input] = jsonInputs(feeds);
    const cases400: [string, unknown, RegExp][] = [
      ['malformed JSON', '{"inputs": [', /malformed JSON/],
      ['not an object', '[1, 2]', /JSON object/],
      ['wrong datatype', { inputs: [{ ...input, datatype: 'INT64' }] }, /datatype INT64, expected FP32/],
      ['wrong shape', { inputs: [{ ...input, shape: [...input.shape, 1] }] }, /shape .* expected/],
      ['wrong element count', { inputs: [{ ...input, data: input.data.slice(1) }] }, /elements for shape/],
      [
        'non-numeric data',
        { inputs: [{ ...input, data: input.data.map(() => 'x') }] },
        /not a finite number/,
      ],
      ['missing input', { inputs: [] }, /missing input/],
      ['extra input', { inputs: [input, { ...input, name: 'extra' }] }, /has no input 'extra'/],
      ['repeated input', { inputs: [input, input] }, /given twice/],
      ['unknown output', { inputs: [input], outputs: [{ name: 'nope' }] }, /has no output 'nope'/],
      ['bad timeout', { inputs: [input], parameters: { timeout: -1 } }, /timeout/],
    ];
    const rateInputs = jsonInputs(cases.get('rates')!.feeds).map((i) =>
      i.name === 'rate' ? { ...i, data: [8000] } : i,
    );
    const otherRate = await infer('rates', { inputs: rateInputs });
    assert.equal(otherRate.status, 400, 'a pinned input sent with another value');
    assert.match(((await otherRate.json()) as { error: string }).error, /input 'rate' = \[16000\] only/);
    const [pinnedInput] = jsonInputs(cases.get('pinned')!.feeds);
    const unpinned = await infer('pinned', {
      inputs: [{ ...pinnedInput, shape: [1, 8], data: pinnedInput.data.slice(0, 8) }],
    });
    assert.equal(unpinned.status, 400, 'a shape other than the pinned one');
    assert.match(((await unpinned.json()) as { error: string }).error, /shape \[1, 8\], expected \[5, 8\]/);
    for (const [what, body, message] of cases400) {
      const r = await infer('residual', body);
      assert.equal(r.status, 400, what);
      assert.match(((await r.json()) as { error: string }).error, message, what);
    }
    const binary = binaryRequest(feeds);
    const short = await infer('residual', binary.body.subarray(0, binary.body.length - 4), {
      'inference-header-content-length': String(binary.headerLength),
    });
    assert.equal(short.status, 400, 'binary data shorter than declared');
    const unknown = await infer('nope', { inputs: [] });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /unknown model 'nope'/);
    const version = await fetch(`${url}/v2/models/residual/versions/9`);
    assert.equal(version.status, 404);
    const outside = await fetch(`${url}/v2/models/..%2F..%2Fetc%2Fpasswd`);
    assert.equal(outside.status, 404, 'a model name cannot reach outside the repository');
    const broken = await infer('broken', { inputs: [] });
    assert.equal(broken.status, 400);
    assert.match(((await broken.json()) as { error: string }).error, /not ready: .*not an ONNX model/);
    const huge = await infer('residual', Buffer.alloc(BODY_LIMIT + 1, 32));
    assert.equal(huge.status, 413);
    assert.ok(((await huge.json()) as { error?: string }).error);
    await assertAnswers('residual');
  });

  it("counts a request's time, and its timeout, from its headers: a slow body uses up its deadline", async () => {
    const body = JSON.stringify({
      inputs: jsonInputs(cases.get('residual')!.feeds),
      parameters: { timeout: 200_000 },
    });
    const sent = (pauseMs: number) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpRequest(`${url}/v2/models/residual/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.flushHeaders();
        setTimeout(() => req.end(body), pauseMs);
      });
    assert.equal((await sent(0)).status, 200, 'the same request, sent at once, is answered');
    const slow = await sent(400);
    assert.equal(slow.status, 503, slow.text);
    assert.match(slow.text, /deadline/);
  });

  it('rejects at once what would wait beyond its deadline or a full queue (503, Retry-After)', async () => {
    const [input] = jsonInputs(cases.get('branch')!.feeds);
    const late = await infer('branch', { inputs: [input], parameters: { timeout: 1 } });
    assert.equal(late.status, 503);
    assert.equal(late.headers.get('retry-after'), '1');
    // mobilenetv2 takes one request at a time: of several sent at once, the others are rejected.
    const { body, headerLength } = binaryRequest(cases.get('mobilenetv2')!.feeds);
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await infer('mobilenetv2', body, {
          'inference-header-content-length': String(headerLength),
        });
        const text = await r.text();
        if (r.status === 503) assert.match(text, /requests waiting or running, its limit/);
        return r.status;
      }),
    );
    assert.ok(statuses.includes(200), `statuses ${statuses.join(' ')}`);
    assert.ok(statuses.includes(503), `statuses ${statuses.join(' ')}`);
    assert.deepEqual(
      statuses.filter((s) => s !== 200 && s !== 503),
      [],
    );
    await assertAnswers('branch');
  });

  it('counts requests, answers and rejections in statistics and Prometheus metrics', async () => {
    const stats = (await (await fetch(`${url}/v2/models/residual/stats`)).json()) as {
      model_stats: { name: string; inference_count: number; inference_stats: { fail: { count: number } } }[];
    };
    assert.equal(stats.model_stats[0].name, 'residual');
    assert.ok(stats.model_stats[0].inference_count >= 4);
    assert.ok(stats.model_stats[0].inference_stats.fail.count >= 10);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /veltair_success_total\{model="residual"\} \d+/);
    assert.match(metrics, /veltair_rejected_total\{model="mobilenetv2",reason="queue_full"\} [1-9]/);
    assert.match(metrics, /veltair_queue_seconds_bucket\{le="0.001",model="residual"\}/);
    assert.match(metrics, /veltair_sessions \d+/);
    assert.match(metrics, /^veltair_cpu_stolen_seconds_total [\d.e+-]+$/m);
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    if (process.platform === 'linux')
      assert.ok(gauge('veltair_engine_thread_cpu_seconds_total') > 0, "the engine thread's CPU time");
    assert.ok(
      gauge('veltair_worst_late_beyond_block_seconds') <= gauge('veltair_worst_late_seconds'),
      'what a block does not excuse is part of the lateness',
    );
    assert.ok(
      gauge('veltair_worst_late_beyond_longest_block_seconds') <=
        gauge('veltair_worst_late_beyond_block_seconds'),
      'a request is allowed at least the block it was running at its deadline',
    );
  });

  it('runs its policy with parameters chosen for the models it serves, and says which', async () => {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const info = /^veltair_policy_info\{policy="veltair",params="([^"]+)"\} 1$/m.exec(metrics);
    assert.ok(info, 'veltair_policy_info names the policy and its parameters');
    const spec = policySpec('veltair');
    const params = parseParams(spec, info[1]);
    assert.deepEqual(Object.keys(params).sort(), Object.keys(spec.defaults).sort());
    for (const [name, values] of Object.entries(spec.paramGrid))
      assert.ok(values.includes(params[name]), `${name}=${params[name]} is a point of the grid`);
    assert.equal(server.policyParams, info[1]);
  });

  it('answers over gRPC: health, metadata, and raw or typed tensors for several models at once', async () => {
    assert.deepEqual(await rpc('ServerLive', {}), { live: true });
    assert.equal((await rpc<{ name: string }>('ServerMetadata', {})).name, 'veltair');
    const meta = await rpc<{ inputs: { name: string }[] }>('ModelMetadata', { name: 'residual' });
    assert.deepEqual(
      meta.inputs.map((i) => i.name),
      Object.keys(cases.get('residual')!.feeds),
    );
    assert.deepEqual(await rpc('ModelReady', { name: 'broken' }), { ready: false });
    const models = [...cases.keys()].filter((m) => m !== 'mobilenetv2');
    const raw = (model: string) => {
      const { feeds, expected } = cases.get(model)!;
      return rpc<GrpcAnswer>('ModelInfer', {
        model_name: model,
        id: `${model}-grpc`,
        inputs: grpcInputs(feeds),
        raw_input_contents: Object.values(feeds).map(rawOf),
      }).then((r) => {
        assert.equal(r.id, `${model}-grpc`);
        assert.ok(compareOutputs(expected, grpcOutputs(r)).ok, `${model} over gRPC`);
      });
    };
    const typed = (model: string) => {
      const { feeds, expected } = cases.get(model)!;
      return rpc<GrpcAnswer>('ModelInfer', {
        model_name: model,
        inputs: grpcInputs(feeds).map((t) => ({
          ...t,
          contents:
            t.datatype === 'INT64'
              ? { int64_contents: Array.from(feeds[t.name].data as BigInt64Array, Number) }
              : { fp32_contents: Array.from(feeds[t.name].data as Float32Array) },
        })),
      }).then((r) => assert.ok(compareOutputs(expected, grpcOutputs(r)).ok, `${model} over gRPC, typed`));
    };
    await Promise.all(models.flatMap((m) => [raw(m), typed(m)]));
  });

  it('maps every error to a gRPC status code, and keeps serving', async () => {
    const { feeds } = cases.get('residual')!;
    const request = {
      model_name: 'residual',
      inputs: grpcInputs(feeds),
      raw_input_contents: Object.values(feeds).map(rawOf),
    };
    const code = (req: object) =>
      rpc('ModelInfer', req).then(
        () => grpc.status.OK,
        (err: grpc.ServiceError) => err.code,
      );
    assert.equal(await code({ ...request, model_name: 'nope' }), grpc.status.NOT_FOUND);
    assert.equal(await code({ ...request, model_version: '3' }), grpc.status.NOT_FOUND);
    assert.equal(
      await code({ ...request, inputs: request.inputs.map((i) => ({ ...i, datatype: 'INT32' })) }),
      grpc.status.INVALID_ARGUMENT,
    );
    assert.equal(await code({ ...request, raw_input_contents: [] }), grpc.status.INVALID_ARGUMENT);
    assert.equal(
      await code({ ...request, raw_input_contents: [...request.raw_input_contents, Buffer.alloc(4)] }),
      grpc.status.INVALID_ARGUMENT,
    );
    assert.equal(
      await code({ ...request, parameters: { timeout: { int64_param: 1 } } }),
      grpc.status.UNAVAILABLE,
    );
    assert.equal(await code({ ...request, model_name: 'broken' }), grpc.status.FAILED_PRECONDITION);
    assert.equal(await code(request), grpc.status.OK);
  });

  it('loads and unloads models through the repository extension (HTTP and gRPC) while the others serve', async () => {
    const repositoryCall = (model: string, action: 'load' | 'unload') =>
      fetch(`${url}/v2/repository/models/${model}/${action}`, { method: 'POST' });
    const index = async () =>
      (await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json()) as {
        name: string;
        state: string;
        reason: string;
      }[];
    const sessions = async () =>
      Number(/^veltair_sessions (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    const before = await sessions();
    const path = await writeModel(repo, 'late', branchModel().model, { qosTargetMs: 5000 });
    cases.set('late', await directCase(path));
    assert.deepEqual(
      (await index()).find((m) => m.name === 'late'),
      { name: 'late', version: '', state: 'UNAVAILABLE', reason: 'not loaded' },
    );
    // Other tenants are served while the model is cut, opened and measured.
    const during = Promise.all([assertAnswers('residual'), assertAnswers('multi')]);
    assert.equal((await repositoryCall('late', 'load')).status, 200);
    await during;
    assert.ok((await sessions()) > before, 'the loaded model holds sessions');
    await assertAnswers('late');
    assert.equal((await index()).find((m) => m.name === 'late')?.state, 'READY');

    // Requests in flight when the unload starts are answered; later ones are turned away.
    const inflight = Array.from({ length: 6 }, () =>
      infer('late', { inputs: jsonInputs(cases.get('late')!.feeds) }).then((r) => r.status),
    );
    const unloaded = await repositoryCall('late', 'unload');
    assert.equal(unloaded.status, 200);
    assert.deepEqual(
      (await Promise.all(inflight)).filter((s) => s !== 200 && s !== 400),
      [],
      'each request answered, or refused because the model was unloading',
    );
    assert.equal(await sessions(), before, 'an unloaded model releases its sessions');
    const refused = await infer('late', { inputs: jsonInputs(cases.get('late')!.feeds) });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: string }).error, /not ready: unloaded/);
    assert.deepEqual(
      (await index()).find((m) => m.name === 'late'),
      { name: 'late', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    );

    const failed = await repositoryCall('broken', 'load');
    assert.equal(failed.status, 400);
    assert.match(((await failed.json()) as { error: string }).error, /cannot be served: .*not an ONNX model/);
    assert.equal((await repositoryCall('nope', 'load')).status, 404);
    assert.equal(
      (await repositoryCall('..%2Fetc', 'load')).status,
      400,
      'no name reaches outside the repository',
    );

    await rpc('RepositoryModelLoad', { model_name: 'late' });
    await rpc('RepositoryModelLoad', { model_name: 'late' }); // a reload
    assert.deepEqual(await rpc('ModelReady', { name: 'late' }), { ready: true });
    const ready = await rpc<{ models: { name: string; state: string }[] }>('RepositoryIndex', {
      ready: true,
    });
    assert.ok(ready.models.some((m) => m.name === 'late'));
    assert.ok(ready.models.every((m) => m.state === 'READY'));
    await assertAnswers('late');
    await rpc('RepositoryModelUnload', { model_name: 'late' });
    assert.deepEqual(await rpc('ModelReady', { name: 'late' }), { ready: false });
    await assert.rejects(rpc('RepositoryModelLoad', { model_name: 'broken' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(err.metadata.get('veltair-error-code')[0], 'load_failed');
      return true;
    });
    await assertAnswers('residual');
  });

  it('on close, answers every request it took and then closes its port', async () => {
    const sent = Array.from({ length: 12 }, () =>
      infer('residual', { inputs: jsonInputs(cases.get('residual')!.feeds) }).then((r) => r.status),
    );
    await Promise.race(sent);
    await server.close();
    const statuses = await Promise.all(sent);
    assert.deepEqual(
      statuses.filter((s) => s !== 200 && s !== 503),
      [],
      `each request answered or turned away while shutting down: ${statuses.join(' ')}`,
    );
    await assert.rejects(fetch(`${url}/v2/health/live`), 'the port is closed');
  });
});

describe('the naive baseline behind the same API', () => {
  it('loads and unloads a model while it serves the others, with answers of a direct ORT run', async () => {
    const repo = await mkdtemp(join(tmpdir(), 'veltair-naive-'));
    const settings = { qosTargetMs: 5000 };
    const cases = new Map<string, Case>([
      ['residual', await directCase(await writeModel(repo, 'residual', residualModel().model, settings))],
    ]);
    const server = await VeltairServer.start({
      repository: repo,
      httpPort: 0,
      policy: 'naive',
      cpus: [0],
    });
    try {
      const answer = async (model: string) => {
        const r = await fetch(`${server.url}/v2/models/${model}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: jsonInputs(cases.get(model)!.feeds) }),
        });
        if (r.status !== 200) return r.status;
        const body = (await r.json()) as Parameters<typeof jsonOutputs>[0];
        const cmp = compareOutputs(cases.get(model)!.expected, jsonOutputs(body));
        assert.ok(cmp.ok, `${model}: answer differs from ORT's by ${cmp.maxRelDiff}`);
        return 200;
      };
      cases.set('branch', await directCase(await writeModel(repo, 'branch', branchModel().model, settings)));
      const repository = (action: string) =>
        fetch(`${server.url}/v2/repository/models/branch/${action}`, { method: 'POST' });
      assert.equal((await repository('load')).status, 200);
      assert.deepEqual(
        await Promise.all([answer('branch'), answer('residual'), answer('branch')]),
        [200, 200, 200],
      );
      assert.equal((await repository('unload')).status, 200);
      assert.equal(await answer('branch'), 400);
      assert.equal(await answer('residual'), 200);
    } finally {
      await server.close();
      await rm(repo, { recursive: true, force: true });
    }
  });
});
