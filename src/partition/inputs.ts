/**
 * A model's inputs as veltair feeds them: shapes and values the user pins (`--shape`,
 * `--pin`, a repository model's config), the graph served at them, and seeded values for
 * measuring and checking, whether of a model or of a block cut from one.
 */
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
import { specializeBranches } from './branches.js';
import { withFastLrn } from './fast-lrn.js';
import type { TensorMap } from './session.js';
import { VeltairError } from '../errors/index.js';

/** Shapes given by the user for inputs, by input name (`--shape name:d1,d2`, a model's config). */
export type ShapeOverrides = ReadonlyMap<string, readonly number[]>;

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
      throw new VeltairError(
        'input_override',
        `a shape is name:d1,d2,... with non-negative integer dims, got '${spec}'`,
      );
    }
    shapes.set(name, dims);
  }
  return shapes;
}

export interface SeededInputOptions {
  seed?: number;
  shapes?: ShapeOverrides;
  /**
   * Integer, bool and string values: `bits` (the default) random 0 or 1, valid ids for any
   * embedding or one-hot table, valid masks and token types: a model's own inputs. `zeros` all
   * 0: a block cut from inside a model, whose integer inputs may be shapes or indices computed
   * upstream, which only 0 keeps valid whatever they feed (a Reshape copies that dim).
   */
  integers?: 'bits' | 'zeros';
}

/**
 * Deterministic inputs for every input a caller must feed: floats uniform in [-1, 1), other
 * types as `integers` says. Symbolic and unknown dims are 1 unless `shapes` gives the input's
 * whole shape.
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
    if (!type)
      throw new VeltairError(
        'model_invalid',
        `input '${input.name}' is not a tensor (only tensor inputs can be generated)`,
      );
    const given = shapes.get(input.name);
    if (given) checkOverride(input.name, given, type.shape);
    const dims = given ?? (type.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    feeds[input.name] = randomTensor(type.elemType, dims, random, options.integers ?? 'bits', input.name);
  }
  return feeds;
}

/** Values given by the user for inputs, by input name (`--pin name=v1,v2`): row-major elements. */
export type PinnedValues = ReadonlyMap<string, readonly number[]>;

/** Parses `name=v1,v2,...` flags (repeatable) into pinned values. */
export function parsePinnedValues(specs: readonly string[]): Map<string, number[]> {
  const pins = new Map<string, number[]>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const values = spec
      .slice(eq + 1)
      .split(',')
      .map((v) => (v.trim() === '' ? NaN : Number(v)));
    if (eq <= 0 || values.some((v) => !Number.isFinite(v))) {
      throw new VeltairError('input_override', `a pin is name=v1,v2,... with numbers, got '${spec}'`);
    }
    pins.set(spec.slice(0, eq), values);
  }
  return pins;
}

/**
 * The pinned values as tensors of their inputs' types and shapes (symbolic dims are 1, or what
 * the element count makes the only symbolic dim).
 */
export function pinnedTensors(model: ModelProto, pins: PinnedValues): Map<string, ort.Tensor> {
  if (!model.graph) throw new Error('model has no graph');
  const index = new GraphIndex(model.graph);
  checkInputNames(index, pins);
  const out = new Map<string, ort.Tensor>();
  for (const [name, values] of pins) {
    const type = index.typeOf(name);
    if (!type) throw new VeltairError('input_override', `input '${name}' is not a tensor`);
    const declared = type.shape ?? [values.length];
    const known = declared.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
    const open = declared.filter((d) => typeof d !== 'number').length;
    const dims = declared.map((d) => (typeof d === 'number' ? d : open === 1 ? values.length / known : 1));
    if (dims.reduce((a, b) => a * b, 1) !== values.length) {
      throw new VeltairError(
        'input_override',
        `input '${name}' holds ${known} elements, ${values.length} are pinned`,
      );
    }
    out.set(name, tensorOf(type.elemType, dims, values, name));
  }
  return out;
}

function tensorOf(
  elemType: number,
  dims: readonly number[],
  values: readonly number[],
  name: string,
): ort.Tensor {
  switch (elemType) {
    case DataType.FLOAT:
      return new ort.Tensor('float32', Float32Array.from(values), dims);
    case DataType.DOUBLE:
      return new ort.Tensor('float64', Float64Array.from(values), dims);
    case DataType.INT64:
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))),
        dims,
      );
    case DataType.INT32:
      return new ort.Tensor('int32', Int32Array.from(values), dims);
    case DataType.BOOL:
      return new ort.Tensor(
        'bool',
        Uint8Array.from(values, (v) => (v ? 1 : 0)),
        dims,
      );
    default:
      throw new VeltairError(
        'input_override',
        `input '${name}': values of type ${ORT_TYPE_NAME[elemType] ?? elemType} cannot be pinned`,
      );
  }
}

/**
 * The graph a model is served as: its inputs at `shapes`, its `If`s specialised to `pins`, its
 * `LRN`s in their fast form (`withFastLrn`).
 */
export async function servedGraph(
  model: ModelProto,
  shapes: ShapeOverrides = new Map(),
  pins: PinnedValues = new Map(),
): Promise<ModelProto> {
  const shaped = pinInputShapes(model, shapes);
  const specialised =
    pins.size === 0 ? shaped : (await specializeBranches(shaped, pinnedTensors(shaped, pins))).model;
  return withFastLrn(specialised);
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

function checkInputNames(index: GraphIndex, given: ReadonlyMap<string, unknown>): void {
  const names = new Set(index.feedInputs.map((v) => v.name));
  for (const name of given.keys()) {
    if (!names.has(name)) {
      throw new VeltairError(
        'input_override',
        `'${name}' is given, but it is not an input (inputs: ${[...names].join(', ')})`,
      );
    }
  }
}

/** An override may only choose symbolic or unknown dims: ORT rejects any other change. */
function checkOverride(name: string, dims: readonly number[], declared: readonly Dim[] | undefined): void {
  if (!declared) return;
  if (declared.length !== dims.length) {
    throw new VeltairError(
      'input_override',
      `input '${name}' has rank ${declared.length}, got ${dims.length} dims`,
    );
  }
  declared.forEach((d, i) => {
    if (typeof d === 'number' && d !== dims[i]) {
      throw new VeltairError(
        'input_override',
        `input '${name}': dim ${i} is fixed at ${d} by the model, got ${dims[i]}`,
      );
    }
  });
}

function randomTensor(
  elemType: number,
  dims: readonly number[],
  random: () => number,
  integers: 'bits' | 'zeros',
  name: string,
): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const float = () => random() * 2 - 1;
  const bit = integers === 'zeros' ? () => 0 : () => (random() < 0.5 ? 0 : 1);
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
      throw new VeltairError(
        'model_invalid',
        `input '${name}': cannot generate data of type ${ORT_TYPE_NAME[elemType] ?? elemType}`,
      );
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
