import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttrType,
  GraphProtoSchema,
  NodeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { DataType, float32Tensor, int64Tensor } from './tensor.js';
import type { Dim } from './graph.js';

/** Forces a float attribute where a plain number would be read as an int. */
export interface FloatAttr {
  float: number;
}
export interface FloatsAttr {
  floats: number[];
}
export type AttrValue = number | number[] | string | FloatAttr | FloatsAttr | TensorProto | GraphProto;

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: value });
    return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(value) });
  }
  if (typeof value === 'string') {
    return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) {
    return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: value.map(BigInt) });
  }
  if ('float' in value) return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: value.float });
  if ('floats' in value)
    return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: value.floats });
  if (value.$typeName === 'onnx.TensorProto')
    return create(AttributeProtoSchema, { name, type: AttrType.TENSOR, t: value });
  return create(AttributeProtoSchema, { name, type: AttrType.GRAPH, g: value });
}

export function valueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  const dim = shape?.map((d) =>
    typeof d === 'number'
      ? { value: { case: 'dimValue' as const, value: BigInt(d) } }
      : typeof d === 'string'
        ? { value: { case: 'dimParam' as const, value: d } }
        : {},
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: { elemType, ...(dim ? { shape: { dim } } : {}) },
      },
    },
  });
}

/** Seeded PRNG (mulberry32): the same seed gives the same weights on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Builds one ONNX graph node by node. Names are generated unless given, weights come from a
 * seeded generator, and every node, initializer and value is kept in insertion order.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly counters = new Map<string, number>();
  readonly random: () => number;
  /** Parameters (initializer elements) added so far. */
  parameterCount = 0;

  constructor(
    readonly name: string,
    seed = 1,
  ) {
    this.random = seededRandom(seed);
  }

  uniqueName(prefix: string): string {
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    return n === 1 ? prefix : `${prefix}_${n}`;
  }

  input(name: string, shape: readonly Dim[], elemType: number = DataType.FLOAT): string {
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, shape?: readonly Dim[], elemType: number = DataType.FLOAT): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** Float weights drawn uniformly from [-scale, scale]; counted as parameters. */
  weight(prefix: string, dims: readonly number[], scale: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = (this.random() * 2 - 1) * scale;
    return this.addInitializer(float32Tensor(this.uniqueName(prefix), dims, data), count);
  }

  /** Float weights with the given values (row-major); counted as parameters. */
  tensor(prefix: string, dims: readonly number[], data: Float32Array<ArrayBuffer>): string {
    return this.addInitializer(float32Tensor(this.uniqueName(prefix), dims, data), data.length);
  }

  /** A float constant filled with one value (BatchNorm's var, LayerNorm's gamma, ...); counted. */
  filled(prefix: string, dims: readonly number[], value: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    return this.addInitializer(
      float32Tensor(this.uniqueName(prefix), dims, new Float32Array(count).fill(value)),
      count,
    );
  }

  /** An int64 constant such as a Reshape target shape; not a parameter. */
  int64s(prefix: string, values: readonly number[]): string {
    return this.addInitializer(int64Tensor(this.uniqueName(prefix), [values.length], values), 0);
  }

  private addInitializer(t: TensorProto, params: number): string {
    this.inits.push(t);
    this.parameterCount += params;
    return t.name;
  }

  /** Adds a node; returns its output names (one generated name per `outputs` slot). */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
  ): string[] {
    const name = this.uniqueName(opType.toLowerCase());
    const outs = Array.from({ length: outputs }, (_, k) => (outputs === 1 ? name : `${name}:${k}`));
    this.nodes.push(
      create(NodeProtoSchema, {
        name,
        opType,
        input: [...inputs],
        output: outs,
        attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
      }),
    );
    return outs;
  }

  /** Adds a single-output node and returns that output's name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  build(): GraphProto {
    return create(GraphProtoSchema, {
      name: this.name,
      node: this.nodes,
      initializer: this.inits,
      input: this.inputs,
      output: this.outputs,
    });
  }
}
