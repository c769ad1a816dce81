import * as ort from 'onnxruntime-node';
import {
  DataType,
  GraphIndex,
  ORT_TYPE_NAME,
  decodeModel,
  encodeModel,
  seededRandom,
  tensorTypeOf,
  valueInfo,
  type Dim,
  type ModelProto,
} from '../onnx/index.js';
import type { TensorMap } from './executor.js';

/** Shapes given by the user for inputs, by input name (`--shape name:d1,d2`, a model's config). */
export type ShapeOverrides = ReadonlyMap<string, readonly number[]>;

/** A malformed `--shape` value or an override naming no input. */
export class ShapeOverrideError extends Error {
  override readonly name = 'ShapeOverrideError';
}

/** Parses `name:d1,d2,...` flags (repeatable) into overrides. */
export function parseShapeOverrides(specs: readonly string[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const spec of specs) {
    const colon = spec.lastIndexOf(':');
    const name = spec.slice(0, colon);
    const dims =
      spec.slice(colon + 1) === ''
        ? []
        : spec
            .slice(colon + 1)
            .split(',')
            .map(Number);
    if (colon <= 0 || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeOverrideError(
        `--shape expects name:d1,d2,... with non-negative integer dims, got '${spec}'`,
      );
    }
    shapes.set(name, dims);
  }
  return shapes;
}

export interface SeededInputOptions {
  seed?: number;
  shapes?: ShapeOverrides;
}

/**
 * Deterministic inputs for every input a caller must feed: floats uniform in [-1, 1), integers
 * in {0, 1} (valid ids for any embedding or one-hot table, valid masks and token types), bools
 * random. Symbolic and unknown dims are 1 unless `shapes` gives the input's whole shape.
 */
export function seededInputs(model: ModelProto, options: SeededInputOptions = {}): TensorMap {
  if (!model.graph) throw new Error('model has no graph');
  const index = new GraphIndex(model.graph);
  const random = seededRandom(options.seed ?? 1);
  const shapes = options.shapes ?? new Map<string, readonly number[]>();
  checkInputNames(index, shapes);
  const feeds: TensorMap = {};
  for (const input of index.feedInputs) {
    const type = index.typeOf(input.name);
    if (!type) throw new Error(`input '${input.name}' is not a tensor (only tensor inputs can be generated)`);
    const given = shapes.get(input.name);
    if (given) checkOverride(input.name, given, type.shape);
    const dims = given ?? (type.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    feeds[input.name] = randomTensor(type.elemType, dims, random, input.name);
  }
  return feeds;
}

/**
 * A copy of `model` whose inputs named in `shapes` have exactly those dims: served at one
 * shape, a model with symbolic dims is cut, measured and checked at that shape.
 */
export function pinInputShapes(model: ModelProto, shapes: ShapeOverrides): ModelProto {
  if (shapes.size === 0) return model;
  const pinned = decodeModel(encodeModel(model));
  if (!pinned.graph) throw new Error('model has no graph');
  checkInputNames(new GraphIndex(pinned.graph), shapes);
  for (const input of pinned.graph.input) {
    const dims = shapes.get(input.name);
    const type = input.type ? tensorTypeOf(input.type) : undefined;
    if (!dims || !type) continue;
    checkOverride(input.name, dims, type.shape);
    input.type = valueInfo(input.name, type.elemType, dims).type;
  }
  return pinned;
}

function checkInputNames(index: GraphIndex, shapes: ShapeOverrides): void {
  const names = new Set(index.feedInputs.map((v) => v.name));
  for (const name of shapes.keys()) {
    if (!names.has(name)) {
      throw new ShapeOverrideError(
        `a shape is given for '${name}', which is not an input (inputs: ${[...names].join(', ')})`,
      );
    }
  }
}

/** An override may only choose symbolic or unknown dims: ORT rejects any other change. */
function checkOverride(name: string, dims: readonly number[], declared: readonly Dim[] | undefined): void {
  if (!declared) return;
  if (declared.length !== dims.length) {
    throw new ShapeOverrideError(`input '${name}' has rank ${declared.length}, got ${dims.length} dims`);
  }
  declared.forEach((d, i) => {
    if (typeof d === 'number' && d !== dims[i]) {
      throw new ShapeOverrideError(`input '${name}': dim ${i} is fixed at ${d} by the model, got ${dims[i]}`);
    }
  });
}

function randomTensor(
  elemType: number,
  dims: readonly number[],
  random: () => number,
  name: string,
): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const float = () => random() * 2 - 1;
  const bit = () => (random() < 0.5 ? 0 : 1);
  switch (elemType) {
    case DataType.FLOAT:
      return new ort.Tensor('float32', Float32Array.from({ length: count }, float), dims);
    case DataType.DOUBLE:
      return new ort.Tensor('float64', Float64Array.from({ length: count }, float), dims);
    case DataType.FLOAT16:
      return new ort.Tensor(
        'float16',
        Uint16Array.from({ length: count }, () => toHalfBits(float())),
        dims,
      );
    case DataType.INT64:
      return new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: count }, () => BigInt(bit())),
        dims,
      );
    case DataType.UINT64:
      return new ort.Tensor(
        'uint64',
        BigUint64Array.from({ length: count }, () => BigInt(bit())),
        dims,
      );
    case DataType.INT32:
      return new ort.Tensor('int32', Int32Array.from({ length: count }, bit), dims);
    case DataType.UINT32:
      return new ort.Tensor('uint32', Uint32Array.from({ length: count }, bit), dims);
    case DataType.INT16:
      return new ort.Tensor('int16', Int16Array.from({ length: count }, bit), dims);
    case DataType.UINT16:
      return new ort.Tensor('uint16', Uint16Array.from({ length: count }, bit), dims);
    case DataType.INT8:
      return new ort.Tensor('int8', Int8Array.from({ length: count }, bit), dims);
    case DataType.UINT8:
      return new ort.Tensor('uint8', Uint8Array.from({ length: count }, bit), dims);
    case DataType.BOOL:
      return new ort.Tensor('bool', Uint8Array.from({ length: count }, bit), dims);
    case DataType.STRING:
      return new ort.Tensor(
        'string',
        Array.from({ length: count }, () => String(bit())),
        dims,
      );
    default:
      throw new Error(`input '${name}': cannot generate data of type ${ORT_TYPE_NAME[elemType] ?? elemType}`);
  }
}

/** IEEE half-precision bits of a float in [-1, 1) (round toward zero; denormals flush to 0). */
function toHalfBits(x: number): number {
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 6.1e-5) return sign;
  const exp = Math.floor(Math.log2(a));
  const mantissa = Math.floor((a / 2 ** exp - 1) * 1024);
  return sign | ((exp + 15) << 10) | mantissa;
}
