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

/** Frees a wire tensor's memory now (see freeTensorMemory). */
export function freeWire(w: WireTensor): void {
  freeTensorMemory(fromWire(w));
}
