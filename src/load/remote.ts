/**
 * A running server as an `InferenceService`, so that the live benchmark's open-loop generator
 * (`runLive`) drives it unchanged: over HTTP with JSON or binary tensors (undici), with inputs in
 * system shared memory (a client on the server's machine: Triton's extension), or over gRPC.
 * Latency counts from the query's scheduled time, as in-process; each answer's lateness past
 * its deadline is kept, to check that the server never answers far past one.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { Pool } from 'undici';
import { WallClock, type EndReason } from '../engine/index.js';
import type { InferOutcome, InferenceService, ModelInput, QueryTiming } from '../runtime/index.js';
import { ERROR_CODE_KEY, SHARED_MEMORY_ROOT, datatypeOf, loadInferenceService, ortTypeOf } from './oip.js';
import { VeltairError } from '../errors/index.js';

export type Transport = 'json' | 'binary' | 'shm' | 'grpc';
export const TRANSPORTS: readonly Transport[] = ['json', 'binary', 'shm', 'grpc'];

/** A tensor placed in a shared memory region of its own, registered with the server. */
interface PlacedTensor {
  readonly region: string;
  readonly byteSize: number;
}

/** What the server says of a model (`GET /v2/models/{m}`). */
interface RemoteModel {
  readonly name: string;
  readonly inputs: readonly ModelInput[];
  readonly qosTargetMs: number;
}

interface Answer {
  readonly status: number;
  readonly error?: string;
  readonly outputs?: Record<string, ort.Tensor>;
}

/** Rejections (503) by the server's error code, as the engine names them. */
const REJECTED: Readonly<Record<string, EndReason>> = {
  queue_full: 'queue_full',
  deadline_unreachable: 'deadline_unreachable',
  expired: 'expired',
  shutting_down: 'aborted',
};

export class RemoteService implements InferenceService {
  readonly clock = new WallClock();
  /** Requests carry copies of the tensors, or name where they already are. */
  readonly takesFeeds = false;
  private inside = 0;
  /** With `shm`: the tensors placed (or being placed) so far, and their regions in order. */
  private readonly placed = new WeakMap<ort.Tensor, Promise<PlacedTensor>>();
  private readonly regions: string[] = [];
  private idleWaiters: (() => void)[] = [];
  /** The most any answer or rejection came after its deadline (ms; 0: none late). */
  worstOvershootMs = 0;

  private constructor(
    private readonly url: URL,
    private readonly transport: Transport,
    private readonly models: ReadonlyMap<string, RemoteModel>,
    private readonly http: Pool,
    private readonly grpcClient: grpc.Client | undefined,
  ) {}

  /** Connects to the server at `url` (its HTTP address; gRPC at `grpcPort`) and reads the models' metadata. */
  static async connect(
    url: string,
    transport: Transport,
    models: readonly string[],
    grpcPort = 8001,
  ): Promise<RemoteService> {
    const base = new URL(url);
    const http = new Pool(base.origin, { connections: 64, pipelining: 1 });
    const known = new Map<string, RemoteModel>();
    try {
      for (const name of models) known.set(name, await readMetadata(http, name));
    } catch (err) {
      await http.close();
      throw err;
    }
    const client =
      transport === 'grpc'
        ? new (loadInferenceService())(`${base.hostname}:${grpcPort}`, grpc.credentials.createInsecure())
        : undefined;
    return new RemoteService(base, transport, known, http, client);
  }

  /** The QoS targets the server holds its models to. */
  get qosTargetMs(): Record<string, number> {
    return Object.fromEntries([...this.models].map(([n, m]) => [n, m.qosTargetMs]));
  }

  inputsOf(model: string): readonly ModelInput[] {
    return this.model(model).inputs;
  }

  async infer(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timing: QueryTiming = {},
  ): Promise<InferOutcome> {
    const m = this.model(model);
    const arrivalMs = timing.arrivalMs ?? this.clock.nowMs();
    this.inside++;
    try {
      const answer = await this.send(model, feeds, arrivalMs + m.qosTargetMs).catch((err: Error): Answer => ({
        status: 0,
        error: err.message,
      }));
      const latencyMs = this.clock.nowMs() - arrivalMs;
      this.worstOvershootMs = Math.max(this.worstOvershootMs, latencyMs - m.qosTargetMs);
      if (answer.status === 200 && answer.outputs) {
        return { status: 'ok', outputs: answer.outputs, latencyMs, satisfied: latencyMs <= m.qosTargetMs };
      }
      if (answer.status === 503) {
        return {
          status: 'rejected',
          reason: REJECTED[answer.error ?? ''] ?? 'deadline_unreachable',
          latencyMs,
        };
      }
      return { status: 'failed', error: `${answer.status}: ${answer.error ?? 'no answer'}`, latencyMs };
    } finally {
      if (--this.inside === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Nothing to do: requests in flight are the server's, and each ends by its deadline (plus one
   * block). Cancelling them client-side can leave undici's pool with requests that never settle.
   */
  abortWaiting(): void {}

  idle(): Promise<void> {
    if (this.inside === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * With `shm`, places these tensors in shared memory now (MLPerf's samples loaded before the
   * timed run), so that no query pays for it; other transports send every tensor with its request.
   */
  async preload(tensors: Iterable<ort.Tensor>): Promise<void> {
    if (this.transport !== 'shm') return;
    for (const t of tensors) await this.placeOf(t);
  }

  async close(): Promise<void> {
    await this.idle();
    this.grpcClient?.close();
    for (const region of this.regions.splice(0)) {
      await this.http
        .request({ method: 'POST', path: this.path(`/v2/systemsharedmemory/region/${region}/unregister`) })
        .then((r) => r.body.dump())
        .catch(() => {});
      await rm(join(SHARED_MEMORY_ROOT, region), { force: true });
    }
    await this.http.close();
  }

  /** `t`'s region: a /dev/shm object holding its bytes, registered with the server on first use. */
  private placeOf(t: ort.Tensor): Promise<PlacedTensor> {
    let place = this.placed.get(t);
    if (!place) this.placed.set(t, (place = this.place(t)));
    return place;
  }

  private async place(t: ort.Tensor): Promise<PlacedTensor> {
    const region = `veltair-bench-${process.pid}-${this.regions.length}`;
    const bytes = bytesOf(t);
    await writeFile(join(SHARED_MEMORY_ROOT, region), bytes, { mode: 0o600 });
    this.regions.push(region);
    const r = await this.http.request({
      method: 'POST',
      path: this.path(`/v2/systemsharedmemory/region/${region}/register`),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: `/${region}`, offset: 0, byte_size: bytes.length }),
    });
    const answer = Buffer.from(await r.body.arrayBuffer());
    if (r.statusCode !== 200) {
      throw new VeltairError(
        'remote_failed',
        `the server did not register shared memory region '${region}': ${r.statusCode} ${answer.toString().slice(0, 300)}`,
      );
    }
    return { region, byteSize: bytes.length };
  }

  private path(suffix: string): string {
    return `${this.url.pathname.replace(/\/$/, '')}${suffix}`;
  }

  private model(name: string): RemoteModel {
    const m = this.models.get(name);
    if (!m) throw new VeltairError('remote_failed', `model '${name}' was not connected`);
    return m;
  }

  /**
   * Sends the query with what is left of its deadline as the request's `timeout` (us), as a
   * client that knows its deadline does: the server then holds it to the generator's clock. A
   * query whose deadline passed before it could be sent is not sent.
   */
  private send(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    deadlineMs: number,
  ): Promise<Answer> {
    const timeoutUs = () => Math.floor((deadlineMs - this.clock.nowMs()) * 1000);
    if (timeoutUs() < 1) return Promise.resolve({ status: 503, error: 'expired' });
    switch (this.transport) {
      case 'grpc':
        return this.sendGrpc(model, feeds, timeoutUs);
      case 'binary':
        return this.sendBinary(model, feeds, timeoutUs);
      case 'shm':
        return this.sendShm(model, feeds, timeoutUs);
      default:
        return this.sendJson(model, feeds, timeoutUs);
    }
  }

  /** Inputs named by their shared memory regions; outputs come back as binary data. */
  private async sendShm(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timeoutUs: () => number,
  ): Promise<Answer> {
    const inputs = [];
    for (const [name, t] of Object.entries(feeds)) {
      const { region, byteSize } = await this.placeOf(t);
      inputs.push({
        name,
        shape: [...t.dims],
        datatype: datatypeOf(t.type),
        parameters: { shared_memory_region: region, shared_memory_byte_size: byteSize },
      });
    }
    const body = JSON.stringify({
      inputs,
      parameters: { binary_data_output: true, timeout: Math.max(1, timeoutUs()) },
    });
    return this.post(model, body, { 'content-type': 'application/json' });
  }

  private async sendJson(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timeoutUs: () => number,
  ): Promise<Answer> {
    const inputs = Object.entries(feeds).map(([name, t]) => ({
      name,
      shape: [...t.dims],
      datatype: datatypeOf(t.type),
      // JSON has one number type: int64 inputs (BigInt64Array) go as numbers, exact below 2^53.
      data: Array.from(t.data as ArrayLike<number | bigint>, Number),
    }));
    const body = JSON.stringify({ inputs, parameters: { timeout: Math.max(1, timeoutUs()) } });
    return this.post(model, body, { 'content-type': 'application/json' });
  }

  private async sendBinary(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timeoutUs: () => number,
  ): Promise<Answer> {
    const parts = Object.values(feeds).map(bytesOf);
    const header = Buffer.from(
      JSON.stringify({
        inputs: Object.entries(feeds).map(([name, t], k) => ({
          name,
          shape: [...t.dims],
          datatype: datatypeOf(t.type),
          parameters: { binary_data_size: parts[k].length },
        })),
        parameters: { binary_data_output: true, timeout: Math.max(1, timeoutUs()) },
      }),
    );
    return this.post(model, Buffer.concat([header, ...parts]), {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    });
  }

  private async post(model: string, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
    const r = await this.http.request({
      method: 'POST',
      path: this.path(`/v2/models/${encodeURIComponent(model)}/infer`),
      headers,
      body,
    });
    const bytes = Buffer.from(await r.body.arrayBuffer());
    if (r.statusCode !== 200) return { status: r.statusCode, error: errorCode(bytes) };
    const headerLength = r.headers['inference-header-content-length'];
    return {
      status: 200,
      outputs: decodeHttpOutputs(bytes, headerLength === undefined ? undefined : Number(headerLength)),
    };
  }

  private sendGrpc(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timeoutUs: () => number,
  ): Promise<Answer> {
    const request = {
      model_name: model,
      parameters: { timeout: { int64_param: Math.max(1, timeoutUs()) } },
      inputs: Object.entries(feeds).map(([name, t]) => ({
        name,
        datatype: datatypeOf(t.type),
        shape: [...t.dims],
      })),
      raw_input_contents: Object.values(feeds).map(bytesOf),
    };
    const client = this.grpcClient as unknown as Record<
      string,
      (
        req: object,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res: GrpcAnswer) => void,
      ) => void
    >;
    return new Promise((resolve) => {
      client.ModelInfer.call(this.grpcClient, request, {}, (err, res) => {
        if (err) {
          const status = err.code === grpc.status.UNAVAILABLE ? 503 : 500;
          const code = err.metadata?.get(ERROR_CODE_KEY)[0];
          resolve({ status, error: typeof code === 'string' ? code : err.details });
          return;
        }
        resolve({ status: 200, outputs: decodeGrpcOutputs(res) });
      });
    });
  }
}

interface GrpcAnswer {
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}

function bytesOf(t: ort.Tensor): Buffer {
  const d = t.data as Float32Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

async function readMetadata(http: Pool, name: string): Promise<RemoteModel> {
  const r = await http.request({ method: 'GET', path: `/v2/models/${encodeURIComponent(name)}` });
  const text = await r.body.text();
  if (r.statusCode !== 200)
    throw new VeltairError('remote_failed', `model '${name}': ${r.statusCode} ${text}`);
  const meta = JSON.parse(text) as {
    inputs: { name: string; datatype: string; shape: number[] }[];
    parameters?: { qos_target_ms?: number; state?: string; reason?: string };
  };
  if (meta.parameters?.state !== undefined && meta.parameters.state !== 'READY') {
    throw new VeltairError(
      'remote_failed',
      `model '${name}' is not ready on the server: ${meta.parameters.reason ?? ''}`,
    );
  }
  const qosTargetMs = meta.parameters?.qos_target_ms;
  if (typeof qosTargetMs !== 'number')
    throw new VeltairError('remote_failed', `model '${name}': the server states no QoS target`);
  return {
    name,
    qosTargetMs,
    inputs: meta.inputs.map((i) => ({
      name: i.name,
      type: ortTypeOf(i.datatype) ?? i.datatype,
      dims: i.shape,
    })),
  };
}

/** The server's error code (`code` in a REST error body). */
function errorCode(bytes: Buffer): string {
  try {
    return (JSON.parse(bytes.toString()) as { code?: string }).code ?? '';
  } catch {
    return bytes.toString().slice(0, 200);
  }
}

function tensorOf(datatype: string, bytes: Uint8Array, shape: number[]): ort.Tensor {
  assertFp32(datatype);
  return new ort.Tensor('float32', new Float32Array(Uint8Array.from(bytes).buffer), shape);
}

/** The answers this client checks are FP32 (every zoo model's outputs); others it cannot compare. */
function assertFp32(datatype: string): void {
  if (ortTypeOf(datatype) !== 'float32')
    throw new VeltairError('remote_failed', `output datatype ${datatype}: only FP32 outputs are decoded`);
}

function decodeHttpOutputs(bytes: Buffer, headerLength: number | undefined): Record<string, ort.Tensor> {
  const header = JSON.parse(bytes.subarray(0, headerLength ?? bytes.length).toString()) as {
    outputs: {
      name: string;
      datatype: string;
      shape: number[];
      data?: number[];
      parameters?: { binary_data_size?: number };
    }[];
  };
  let offset = headerLength ?? bytes.length;
  const out: Record<string, ort.Tensor> = {};
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      assertFp32(o.datatype);
      out[o.name] = new ort.Tensor('float32', Float32Array.from(o.data ?? []), o.shape);
      continue;
    }
    out[o.name] = tensorOf(o.datatype, bytes.subarray(offset, offset + size), o.shape);
    offset += size;
  }
  return out;
}

function decodeGrpcOutputs(r: GrpcAnswer): Record<string, ort.Tensor> {
  return Object.fromEntries(
    r.outputs.map((o, k) => [o.name, tensorOf(o.datatype, r.raw_output_contents[k], o.shape)]),
  );
}
