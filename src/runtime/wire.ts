/**
 * Tensors between threads: an ort.Tensor does not survive structured cloning (it would arrive
 * as a plain object), so tensors cross as their type, dims and data, and the data's buffer is
 * transferred, not copied.
 */
import * as ort from 'onnxruntime-node';
import { freeTensorMemory } from '../onnx/index.js';

export interface WireTensor {
  readonly type: ort.Tensor.Type;
  readonly dims: readonly number[];
  readonly data: ort.Tensor.DataType;
}

export type WireTensors = Record<string, WireTensor>;

export function toWire(t: ort.Tensor): WireTensor {
  return { type: t.type, dims: t.dims, data: t.data };
}

export function fromWire(w: WireTensor): ort.Tensor {
  return new ort.Tensor(w.type, w.data as ort.Tensor.DataTypeMap[ort.Tensor.Type], w.dims);
}

/** The buffers to transfer with these tensors (each once; string tensors have none). */
export function transferList(tensors: Iterable<WireTensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) {
    const buffer = (t.data as { buffer?: unknown }).buffer;
    if (buffer instanceof ArrayBuffer && buffer.byteLength > 0) buffers.add(buffer);
  }
  return [...buffers];
}

/**
 * `bytes` in shared memory: posting it to a worker then copies nothing on the sending thread
 * (a model's unit bytes go to every worker, once per CPU window and version).
 */
export function shared<T extends Uint8Array | WireTensor>(value: T): T {
  if (value instanceof Uint8Array) {
    const copy = new Uint8Array(new SharedArrayBuffer(value.byteLength));
    copy.set(value);
    return copy as T;
  }
  const data = value.data;
  if (Array.isArray(data)) return value;
  const copy = new (data.constructor as new (b: SharedArrayBuffer) => typeof data)(
    new SharedArrayBuffer(data.byteLength),
  );
  (copy as Uint8Array).set(data as Uint8Array);
  return { ...value, data: copy } as T;
}

/** A private copy of what `shared` made, for ORT, which takes memory of its own. */
export function owned<T extends Uint8Array | WireTensor>(value: T): T {
  if (value instanceof Uint8Array)
    return (value.buffer instanceof SharedArrayBuffer ? value.slice() : value) as T;
  const data = value.data as { buffer?: unknown; slice?: () => ort.Tensor.DataType };
  if (!(data.buffer instanceof SharedArrayBuffer) || !data.slice) return value;
  return { ...value, data: data.slice() } as T;
}

/** Frees a wire tensor's memory now (see freeTensorMemory). */
export function freeWire(w: WireTensor): void {
  freeTensorMemory(fromWire(w));
}
