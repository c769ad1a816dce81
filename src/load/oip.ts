/**
 * The Open Inference Protocol's (KServe v2) shared vocabulary, for the server and its load
 * generator alike: the datatypes and the ORT tensor types they are, and the gRPC service
 * definition (`proto/grpc_predict_v2.proto`).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type * as ort from 'onnxruntime-node';
import { VeltairError } from '../errors/index.js';

/** The protocol's datatypes and the ORT tensor types they are. */
export const DATATYPES = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<string, ort.Tensor.Type>;

export type Datatype = keyof typeof DATATYPES;

/** The protocol's name of an ORT tensor type (`float32` -> `FP32`). */
export function datatypeOf(ortType: string): Datatype {
  const found = (Object.keys(DATATYPES) as Datatype[]).find((d) => DATATYPES[d] === ortType);
  if (!found)
    throw new VeltairError('model_invalid', `ORT type '${ortType}' has no Open Inference Protocol datatype`);
  return found;
}

/** The ORT tensor type of a protocol datatype, if it has one. */
export function ortTypeOf(datatype: string): ort.Tensor.Type | undefined {
  return (DATATYPES as Record<string, ort.Tensor.Type>)[datatype];
}

/** Where POSIX shared memory objects live on Linux (what `shm_open` opens): server and client alike. */
export const SHARED_MEMORY_ROOT = '/dev/shm';

/** gRPC trailing metadata that carries the server's error code (the REST error body's `code`). */
export const ERROR_CODE_KEY = 'veltair-error-code';

const PROTO = fileURLToPath(new URL('../../proto/grpc_predict_v2.proto', import.meta.url));

/** `inference.GRPCInferenceService`: what the server implements and a client builds its stub from. */
export function loadInferenceService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(PROTO, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as {
    inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
  };
  return root.inference.GRPCInferenceService;
}
