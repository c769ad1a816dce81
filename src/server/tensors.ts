/**
 * Tensors as the Open Inference Protocol carries them: JSON (`data`, flat or nested, row-major),
 * Triton's binary tensor extension (raw little-endian bytes after the JSON header), or a place in
 * a registered system shared memory region. Every check a request can fail names the tensor and
 * what was expected.
 */
import * as ort from 'onnxruntime-node';
import { DATATYPES, datatypeOf, type Datatype } from '../load/index.js';
import { ORT_ELEMENT_BYTES } from '../onnx/index.js';
import type { SharedMemoryPlace, SharedMemoryRegistry } from './shared-memory.js';

import { VeltairError } from '../errors/index.js';

/** A tensor the model declares: its protocol datatype and shape (-1 for a dimension of any size). */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

/** One entry of a request's `inputs`, as parsed JSON. */
export interface RequestInput {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
  /** `binary_data_size`, or `shared_memory_region`, `shared_memory_offset`, `shared_memory_byte_size`. */
  parameters?: { binary_data_size?: unknown };
}

/** Where a request's binary tensors are: the bytes after the JSON header, consumed in input order. */
export class BinaryCursor {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  take(size: number, what: string): Uint8Array {
    if (this.offset + size > this.bytes.length) {
      throw new VeltairError(
        'invalid_binary',
        `${what}: binary_data_size ${size} reaches past the ${this.bytes.length - this.offset} bytes left in the body`,
      );
    }
    const out = this.bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return out;
  }

  get left(): number {
    return this.bytes.length - this.offset;
  }
}

/** Where a request's tensor bytes may be: after its JSON header, or in shared memory. */
export interface TensorSources {
  readonly binary: BinaryCursor;
  readonly sharedMemory: SharedMemoryRegistry;
}

/**
 * The request's inputs as ORT tensors, checked against what the model declares: every input
 * present once, no others, the declared datatype, a shape that fits the declared one, and as
 * many elements as the shape holds.
 */
export function parseInputs(
  model: string,
  declared: readonly TensorMetadata[],
  inputs: unknown,
  sources: TensorSources,
): Record<string, ort.Tensor> {
  const { binary } = sources;
  if (!Array.isArray(inputs))
    throw new VeltairError('invalid_request', "'inputs' must be an array of tensors");
  const out: Record<string, ort.Tensor> = {};
  for (const raw of inputs as unknown[]) {
    if (typeof raw !== 'object' || raw === null)
      throw new VeltairError('invalid_request', 'each input must be an object');
    const input = raw as RequestInput;
    if (typeof input.name !== 'string') throw new VeltairError('invalid_request', "an input has no 'name'");
    const name = input.name;
    const spec = declared.find((d) => d.name === name);
    if (!spec) {
      throw new VeltairError(
        'unknown_input',
        `model '${model}' has no input '${name}' (inputs: ${declared.map((d) => d.name).join(', ')})`,
      );
    }
    if (out[name]) throw new VeltairError('duplicate_input', `input '${name}' is given twice`);
    out[name] = parseTensor(spec, input, sources);
  }
  const missing = declared.filter((d) => !out[d.name]).map((d) => d.name);
  if (missing.length > 0) throw new VeltairError('missing_input', `missing input(s): ${missing.join(', ')}`);
  if (binary.left > 0) {
    throw new VeltairError(
      'invalid_binary',
      `${binary.left} bytes of binary data are not claimed by any input`,
    );
  }
  return out;
}

function parseTensor(spec: TensorMetadata, input: RequestInput, sources: TensorSources): ort.Tensor {
  const what = `input '${spec.name}'`;
  if (input.datatype !== spec.datatype) {
    throw new VeltairError(
      'wrong_datatype',
      `${what}: datatype ${String(input.datatype)}, expected ${spec.datatype}`,
    );
  }
  const shape = parseShape(what, input.shape);
  const fits =
    shape.length === spec.shape.length && shape.every((d, k) => spec.shape[k] === -1 || spec.shape[k] === d);
  if (!fits) {
    throw new VeltairError(
      'wrong_shape',
      `${what}: shape [${shape.join(', ')}], expected [${spec.shape.join(', ')}]`,
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const type = DATATYPES[spec.datatype];
  const size = input.parameters?.binary_data_size;
  const place = sources.sharedMemory.placeOf(what, input.parameters);
  if (place) {
    if (input.data !== undefined || size !== undefined) {
      throw new VeltairError(
        'invalid_request',
        `${what}: a shared memory region and also data or binary_data_size`,
      );
    }
    return fromBytes(what, type, shape, count, sources.sharedMemory.read(place));
  }
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || (size as number) < 0) {
      throw new VeltairError('invalid_binary', `${what}: binary_data_size must be a non-negative integer`);
    }
    if (input.data !== undefined)
      throw new VeltairError('invalid_request', `${what}: both data and binary_data_size`);
    // A copy into an aligned buffer of its own: it moves to a worker thread.
    return fromBytes(what, type, shape, count, new Uint8Array(sources.binary.take(size as number, what)));
  }
  if (!Array.isArray(input.data))
    throw new VeltairError('invalid_request', `${what}: 'data' must be an array`);
  return fromJson(what, type, shape, count, input.data as unknown[]);
}

function parseShape(what: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new VeltairError('wrong_shape', `${what}: 'shape' must be an array of non-negative integers`);
  }
  return shape as number[];
}

/** A tensor on `own`, a buffer of the tensor's bytes alone (the tensor takes it over). */
function fromBytes(
  what: string,
  type: ort.Tensor.Type,
  shape: number[],
  count: number,
  own: Uint8Array<ArrayBuffer>,
): ort.Tensor {
  const width = ORT_ELEMENT_BYTES[type];
  if (width === undefined)
    throw new VeltairError('wrong_datatype', `${what}: ${type} cannot be sent as binary data`);
  if (own.length !== count * width) {
    throw new VeltairError(
      'wrong_element_count',
      `${what}: ${own.length} bytes for shape [${shape.join(', ')}] of ${width}-byte elements (${count * width} expected)`,
    );
  }
  return new ort.Tensor(type as 'float32', typedView(type, own.buffer) as Float32Array, shape);
}

function typedView(type: ort.Tensor.Type, buffer: ArrayBuffer): ort.Tensor.DataType {
  switch (type) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'uint16':
    case 'float16':
      return new Uint16Array(buffer);
    case 'uint32':
      return new Uint32Array(buffer);
    case 'uint64':
      return new BigUint64Array(buffer);
    default:
      return new Uint8Array(buffer);
  }
}

/**
 * A tensor of `count` elements from JSON `data`, flat or nested (row-major). Numbers are written
 * straight into the tensor's buffer as the arrays are walked: a 224x224 image is 150,528 of them,
 * and an intermediate flat array would cost more than parsing them did.
 */
function fromJson(
  what: string,
  type: ort.Tensor.Type,
  shape: number[],
  count: number,
  data: unknown[],
): ort.Tensor {
  const width = ORT_ELEMENT_BYTES[type];
  if (width === undefined || type === 'bool' || type === 'int64' || type === 'uint64') {
    return fromJsonValues(what, type, shape, count, data);
  }
  if (type === 'float16')
    throw new VeltairError('wrong_datatype', `${what}: send FP16 tensors as binary data`);
  // Checked before the buffer is allocated, for the shape alone may ask for any size.
  checkCount(what, leafCountOfRegular(data), shape, count);
  const out = typedView(type, new ArrayBuffer(count * width)) as Float32Array;
  checkCount(what, writeNumbers(what, data, out, !type.startsWith('float')), shape, count);
  return new ort.Tensor(type as 'float32', out, shape);
}

/**
 * How many leaves `data` has if every array holds only arrays or only leaves, as the first
 * element of each says; never more than the values the body holds. Irregular data is counted
 * exactly as it is written.
 */
function leafCountOfRegular(data: unknown[]): number {
  if (data.length === 0 || !Array.isArray(data[0])) return data.length;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    n += Array.isArray(x) ? leafCountOfRegular(x) : 1;
  }
  return n;
}

/**
 * Writes `data`'s leaves in row-major order, checking each one, and returns how many there were
 * (a typed array ignores writes past its end).
 */
function writeNumbers(what: string, data: unknown[], out: Float32Array, integral: boolean): number {
  let k = 0;
  // Arrays of arrays and arrays of numbers are read by loops of their own: a load that sees both
  // kinds of array boxes every number it reads.
  const visitRows = (rows: unknown[]): void => {
    for (let i = 0; i < rows.length; i++) visit(rows[i]);
  };
  const visitLeaves = (xs: unknown[]): void => {
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (typeof x === 'number' && Number.isFinite(x) && (!integral || Number.isInteger(x))) out[k++] = x;
      else visit(x);
    }
  };
  const visit = (x: unknown): void => {
    if (!Array.isArray(x)) {
      throw badElement(
        what,
        k,
        x,
        typeof x === 'number' && Number.isFinite(x) ? 'an integer' : 'a finite number',
      );
    }
    if (x.length > 0 && Array.isArray(x[0])) visitRows(x);
    else visitLeaves(x);
  };
  visit(data);
  return k;
}

/** Row-major elements of nested arrays; a flat array as it is (`Array.flat` is slow on large ones). */
function flatten(data: unknown[]): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const visit = (xs: unknown[]): void => {
    for (const x of xs) {
      if (Array.isArray(x)) visit(x);
      else out.push(x);
    }
  };
  visit(data);
  return out;
}

/** Strings, booleans and 64-bit integers: each element converted on its own. */
function fromJsonValues(
  what: string,
  type: ort.Tensor.Type,
  shape: number[],
  count: number,
  data: unknown[],
): ort.Tensor {
  const flat = flatten(data);
  checkCount(what, flat.length, shape, count);
  if (type === 'string') {
    flat.forEach((x, k) => {
      if (typeof x !== 'string') throw badElement(what, k, x, 'a string');
    });
    return new ort.Tensor('string', flat as string[], shape);
  }
  if (type === 'bool') {
    const out = new Uint8Array(count);
    flat.forEach((x, k) => {
      if (typeof x !== 'boolean') throw badElement(what, k, x, 'true or false');
      out[k] = x ? 1 : 0;
    });
    return new ort.Tensor('bool', out, shape);
  }
  const out = type === 'int64' ? new BigInt64Array(count) : new BigUint64Array(count);
  flat.forEach((x, k) => {
    if (!Number.isSafeInteger(x)) throw badElement(what, k, x, 'an integer');
    out[k] = BigInt(x as number);
  });
  return new ort.Tensor(type as 'int64', out as BigInt64Array, shape);
}

function checkCount(what: string, elements: number, shape: number[], count: number): void {
  if (elements === count) return;
  throw new VeltairError(
    'wrong_element_count',
    `${what}: ${elements} elements for shape [${shape.join(', ')}], which holds ${count}`,
  );
}

function badElement(what: string, k: number, x: unknown, expected: string): VeltairError {
  return new VeltairError('invalid_data', `${what}: element ${k} (${JSON.stringify(x)}) is not ${expected}`);
}

/** How the request asked for an output: as binary data, and in shared memory (its place written already). */
export interface OutputForm {
  readonly binary: boolean;
  readonly place?: SharedMemoryPlace;
}

/** An output as the protocol returns it; `binary` when it goes after the JSON header instead of as `data`. */
export interface EncodedOutput {
  readonly json: {
    name: string;
    datatype: Datatype;
    shape: number[];
    data?: unknown[];
    parameters?: Record<string, string | number>;
  };
  readonly binary?: Uint8Array;
}

export function encodeOutput(name: string, tensor: ort.Tensor, form: OutputForm): EncodedOutput {
  const datatype = datatypeOf(tensor.type);
  const shape = [...tensor.dims];
  const data = tensor.data;
  if (form.place) {
    const { region, offset } = form.place;
    const parameters = {
      shared_memory_region: region,
      shared_memory_offset: offset,
      shared_memory_byte_size: outputBytes(name, tensor).length,
    };
    return { json: { name, datatype, shape, parameters } };
  }
  if (form.binary && ArrayBuffer.isView(data)) {
    const bytes = outputBytes(name, tensor);
    return { json: { name, datatype, shape, parameters: { binary_data_size: bytes.length } }, binary: bytes };
  }
  return { json: { name, datatype, shape, data: jsonValues(tensor) } };
}

/** An output's raw little-endian bytes (a view, not a copy). */
export function outputBytes(name: string, tensor: ort.Tensor): Uint8Array {
  const data = tensor.data;
  if (!ArrayBuffer.isView(data)) {
    throw new VeltairError(
      'invalid_shared_memory',
      `output '${name}' (${tensor.type}) has no raw bytes to place`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function jsonValues(tensor: ort.Tensor): unknown[] {
  const data = tensor.data;
  if (Array.isArray(data)) return data;
  if (tensor.type === 'bool') return Array.from(data as Uint8Array, (x) => x !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array)
    return Array.from(data, (x) => Number(x));
  return Array.from(data as Float32Array);
}
