/**
 * The Open Inference Protocol's gRPC service (`inference.GRPCInferenceService`) on the same
 * server as the REST API: the same models, checks, engine and errors, mapped to gRPC status
 * codes. Outputs travel as `raw_output_contents` (as Triton answers), or in the shared memory
 * region a requested output names.
 */
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODE_KEY, loadInferenceService } from '../load/index.js';
import { GRPC_STATUS } from './errors.js';
import { BinaryCursor, encodeOutput } from './tensors.js';
import type { DecodedRequest, VeltairServer } from './server.js';
import { VeltairError, asVeltairError } from '../errors/index.js';

/** An `InferParameter` as proto-loader decodes it (`oneofs: true` names the set field). */
interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param';
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
}

interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: number[];
  uint_contents: number[];
  uint64_contents: number[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: {
    name: string;
    datatype: string;
    shape: number[];
    parameters: Record<string, InferParameter>;
    contents: InferTensorContents | null;
  }[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}

function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const coded = asVeltairError(err);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, coded.code);
  return { code: GRPC_STATUS[coded.errorClass], details: coded.message, metadata };
}

/** A unary handler that answers with what `body` returns, or with the error it throws. */
function unary<Req, Res>(body: (request: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => body(call.request))
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toServiceError(err)),
      );
  };
}

const parameterValue = (p: InferParameter): unknown =>
  p.parameter_choice ? p[p.parameter_choice] : undefined;

function parameters(map: Record<string, InferParameter>): Record<string, unknown> | undefined {
  const entries = Object.entries(map);
  return entries.length === 0
    ? undefined
    : Object.fromEntries(entries.map(([k, v]) => [k, parameterValue(v)]));
}

/** Plain parameters as `InferParameter`s. */
function inferParameters(values: Record<string, string | number>): Record<string, InferParameter> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [
      k,
      typeof v === 'string' ? { string_param: v } : { int64_param: v },
    ]),
  );
}

/** The repeated field of `InferTensorContents` that carries `datatype`. */
function contentsOf(datatype: string, c: InferTensorContents): unknown[] {
  switch (datatype) {
    case 'BOOL':
      return c.bool_contents;
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return c.int_contents;
    case 'INT64':
      return c.int64_contents;
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return c.uint_contents;
    case 'UINT64':
      return c.uint64_contents;
    case 'FP32':
      return c.fp32_contents;
    case 'FP64':
      return c.fp64_contents;
    case 'BYTES':
      return c.bytes_contents.map((b) => b.toString('utf8'));
    default:
      return [];
  }
}

/**
 * A gRPC `ModelInferRequest` in the protocol's terms, as the REST API decodes its JSON. Inputs
 * in shared memory carry no contents; `raw_input_contents` hold the others', in input order.
 */
export function decodeGrpcRequest(req: GrpcInferRequest): DecodedRequest {
  const raw = req.raw_input_contents;
  const inline = req.inputs.filter((t) => t.parameters.shared_memory_region === undefined);
  if (raw.length > 0 && raw.length !== inline.length) {
    throw new VeltairError(
      'invalid_binary',
      `${raw.length} raw_input_contents for ${inline.length} inputs not in shared memory: give one per input, in order`,
    );
  }
  if (raw.length > 0 && req.inputs.some((t) => t.contents)) {
    throw new VeltairError('invalid_request', 'an input has contents although raw_input_contents are given');
  }
  return {
    id: req.id || undefined,
    inputs: req.inputs.map((t) => {
      const given = parameters(t.parameters);
      const k = inline.indexOf(t);
      const tensor = { name: t.name, datatype: t.datatype, shape: t.shape };
      if (k < 0) return { ...tensor, parameters: given };
      return raw.length > 0
        ? { ...tensor, parameters: { ...given, binary_data_size: raw[k].length } }
        : { ...tensor, parameters: given, data: t.contents ? contentsOf(t.datatype, t.contents) : undefined };
    }),
    outputs:
      req.outputs.length > 0
        ? req.outputs.map((o) => ({ name: o.name, parameters: parameters(o.parameters) }))
        : undefined,
    parameters: parameters(req.parameters),
    binary: new BinaryCursor(Buffer.concat(raw)),
  };
}

export interface GrpcEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `server`'s models over gRPC on `host:port` (0: any free port). */
export async function startGrpc(
  server: VeltairServer,
  host: string,
  port: number,
  maxMessageBytes: number,
): Promise<GrpcEndpoint> {
  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  type Target = { name: string; version: string };
  const target = (r: Target) => ({ model: r.name, version: r.version || undefined });
  grpcServer.addService(loadInferenceService().service, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: server.ready })),
    ModelReady: unary((r: Target) => ({ ready: server.ready && server.lookup(target(r)).state === 'READY' })),
    ServerMetadata: unary(() => server.serverMetadata()),
    ModelMetadata: unary((r: Target) => {
      const { name, versions, platform, inputs, outputs } = server.metadata(server.lookup(target(r)));
      return { name, versions, platform, inputs, outputs };
    }),
    RepositoryIndex: unary(async (r: { ready: boolean }) => ({
      models: await server.repositoryIndex(r.ready),
    })),
    RepositoryModelLoad: unary(async (r: { model_name: string }) => {
      await server.load(r.model_name);
      return {};
    }),
    RepositoryModelUnload: unary(async (r: { model_name: string }) => {
      await server.unload(r.model_name);
      return {};
    }),
    ModelInfer: unary(async (req: GrpcInferRequest) => {
      const answer = await server.serve(
        { model: req.model_name, version: req.model_version || undefined },
        () => decodeGrpcRequest(req),
      );
      const encoded = answer.outputs.map((o) =>
        encodeOutput(o.name, o.tensor, { binary: true, place: o.form.place }),
      );
      return {
        model_name: answer.model.name,
        model_version: answer.model.version,
        id: answer.id ?? '',
        outputs: encoded.map((e) => ({
          name: e.json.name,
          datatype: e.json.datatype,
          shape: e.json.shape,
          ...(e.json.parameters && !e.binary ? { parameters: inferParameters(e.json.parameters) } : {}),
          ...(e.binary || e.json.data === undefined
            ? {}
            : { contents: { bytes_contents: e.json.data.map((x) => Buffer.from(String(x))) } }),
        })),
        raw_output_contents: encoded.filter((e) => e.binary).map((e) => Buffer.from(e.binary as Uint8Array)),
      };
    }),
    SystemSharedMemoryStatus: unary((r: { name: string }) => ({
      regions: Object.fromEntries(server.sharedMemory.status(r.name || undefined).map((r) => [r.name, r])),
    })),
    SystemSharedMemoryRegister: unary(
      (r: { name: string; key: string; offset: number; byte_size: number }) => {
        server.sharedMemory.register(r.name, { key: r.key, offset: r.offset, byte_size: r.byte_size });
        return {};
      },
    ),
    SystemSharedMemoryUnregister: unary((r: { name: string }) => {
      server.sharedMemory.unregister(r.name || undefined);
      return {};
    }),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        grpcServer.tryShutdown(() => resolve());
      }),
  };
}
