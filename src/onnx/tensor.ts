import { readFile } from 'node:fs/promises';
import type * as ort from 'onnxruntime-node';
import { create, fromBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema, TensorProto_DataType as DataType, type TensorProto } from 'onnx-buf';
import { modelFileError } from './errors.js';
import { elementCount, type TensorType } from './graph.js';
import { VeltairError } from '../errors/index.js';

export { DataType };

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/**
 * The ONNX data types veltair handles, by code: the ORT tensor type each maps to (bfloat16 has
 * none in JavaScript) and its width in bytes (strings have none).
 */
const ELEMENT_TYPES: Readonly<Record<number, { readonly ort?: string; readonly bytes?: number }>> = {
  [DataType.FLOAT]: { ort: 'float32', bytes: 4 },
  [DataType.DOUBLE]: { ort: 'float64', bytes: 8 },
  [DataType.FLOAT16]: { ort: 'float16', bytes: 2 },
  [DataType.BFLOAT16]: { bytes: 2 },
  [DataType.INT8]: { ort: 'int8', bytes: 1 },
  [DataType.UINT8]: { ort: 'uint8', bytes: 1 },
  [DataType.INT16]: { ort: 'int16', bytes: 2 },
  [DataType.UINT16]: { ort: 'uint16', bytes: 2 },
  [DataType.INT32]: { ort: 'int32', bytes: 4 },
  [DataType.UINT32]: { ort: 'uint32', bytes: 4 },
  [DataType.INT64]: { ort: 'int64', bytes: 8 },
  [DataType.UINT64]: { ort: 'uint64', bytes: 8 },
  [DataType.BOOL]: { ort: 'bool', bytes: 1 },
  [DataType.STRING]: { ort: 'string' },
};

const types = Object.entries(ELEMENT_TYPES).map(([code, t]) => ({ code: Number(code), ...t }));

/** ONNX data type code -> the ORT tensor type name it maps to. */
export const ORT_TYPE_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  types.flatMap((t) => (t.ort === undefined ? [] : [[t.code, t.ort]])),
);

/** Bytes per element of each ONNX data type of fixed width. */
export const ELEMENT_BYTES: Readonly<Record<number, number>> = Object.fromEntries(
  types.flatMap((t) => (t.bytes === undefined ? [] : [[t.code, t.bytes]])),
);

/** `ELEMENT_BYTES` by ORT tensor type name (`float32`, ...): absent for `string`. */
export const ORT_ELEMENT_BYTES: Readonly<Record<string, number>> = Object.fromEntries(
  types.flatMap((t) => (t.ort === undefined || t.bytes === undefined ? [] : [[t.ort, t.bytes]])),
);

/**
 * Bytes per element of an ONNX data type, for estimates of how much memory values and weights
 * take: a type of no fixed width counts as 4, the width of the common float.
 */
export function elementBytes(elemType: number): number {
  return ELEMENT_BYTES[elemType] ?? 4;
}

/**
 * Bytes of a value of `type`, symbolic dims counted as 1 (batch 1, the shapes veltair serves);
 * 0 when the type or its rank is unknown: such a value has no size to plan with.
 */
export function tensorTypeBytes(type: TensorType | undefined): number {
  if (!type?.shape) return 0;
  return elementCount(type.shape.map((d) => (typeof d === 'number' ? d : 1))) * elementBytes(type.elemType);
}

export function float32Tensor(
  name: string,
  dims: readonly number[],
  data: Float32Array<ArrayBuffer>,
): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: DataType.INT64,
    rawData: new Uint8Array(data.buffer),
  });
}

function fromRaw<T>(raw: Uint8Array, Ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }): T {
  // Copy: raw_data may sit at any offset inside the decode buffer and typed arrays need alignment.
  // (new Uint8Array(raw), not raw.slice(): a Node Buffer's slice is a view of its pool.)
  const copy = new Uint8Array(raw);
  return new Ctor(copy.buffer);
}

/** The values a TensorProto holds, in the typed array ORT expects for its type. */
export function tensorValues(t: TensorProto): TensorData {
  const raw = t.rawData.length > 0 ? t.rawData : undefined;
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw ? fromRaw(raw, Float32Array) : Float32Array.from(t.floatData);
    case DataType.DOUBLE:
      return raw ? fromRaw(raw, Float64Array) : Float64Array.from(t.doubleData);
    case DataType.INT64:
      return raw ? fromRaw(raw, BigInt64Array) : BigInt64Array.from(t.int64Data);
    case DataType.UINT64:
      return raw ? fromRaw(raw, BigUint64Array) : BigUint64Array.from(t.uint64Data);
    case DataType.INT32:
      return raw ? fromRaw(raw, Int32Array) : Int32Array.from(t.int32Data);
    case DataType.UINT32:
      return raw ? fromRaw(raw, Uint32Array) : Uint32Array.from(t.uint64Data.map(Number));
    case DataType.INT16:
      return raw ? fromRaw(raw, Int16Array) : Int16Array.from(t.int32Data);
    case DataType.UINT16:
    case DataType.FLOAT16:
      return raw ? fromRaw(raw, Uint16Array) : Uint16Array.from(t.int32Data);
    case DataType.INT8:
      return raw ? fromRaw(raw, Int8Array) : Int8Array.from(t.int32Data);
    case DataType.UINT8:
    case DataType.BOOL:
      return raw ? new Uint8Array(raw) : Uint8Array.from(t.int32Data);
    case DataType.STRING:
      return t.stringData.map((s) => new TextDecoder().decode(s));
    default:
      throw new VeltairError('model_invalid', `tensor ${t.name}: data type ${t.dataType} is not supported`);
  }
}

/** Reads a serialized TensorProto (the `.pb` files of ONNX's test data). */
export async function loadTensor(path: string): Promise<TensorProto> {
  const bytes = await readFile(path);
  try {
    return fromBinary(TensorProtoSchema, bytes);
  } catch (err) {
    throw modelFileError(path, `not a TensorProto (${(err as Error).message})`);
  }
}

/** ES2024 `ArrayBuffer.prototype.transfer`: in node 20 behind `--harmony-rab-gsab-transfer`. */
const transfer = (ArrayBuffer.prototype as { transfer?: (this: ArrayBuffer, length: number) => ArrayBuffer })
  .transfer;

/**
 * Frees a tensor's memory now instead of at V8's next collection: transferring its buffer to
 * length 0 detaches it and drops the backing store. Why: onnxruntime-node returns every result
 * in a fresh ArrayBuffer, and their external memory is what starts V8's collections; freed at
 * once, a ResNet-50 run per layer triggers half as many, and malloc hands the cache-warm memory
 * to the next result, so consecutive runs see the same memory state. Only for tensors nobody
 * else holds (the data is gone afterwards); a no-op where `transfer` is unavailable.
 */
export function freeTensorMemory(tensor: ort.Tensor): void {
  if (!transfer || tensor.location !== 'cpu') return;
  const buffer = (tensor.data as { buffer?: unknown }).buffer;
  if (buffer instanceof ArrayBuffer) transfer.call(buffer, 0);
}
