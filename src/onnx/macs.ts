import { DataType } from './tensor.js';
import { GraphIndex, attr, attrInt, type NodeProto, type Dim } from './graph.js';
import type { ModelProto } from './model.js';

/**
 * Work and size of a model computed from its graph alone: value shapes (inputs, value_info,
 * outputs, initializers) and initializer contents. Nothing here trusts how the model was built.
 */

/** MACs of one node, or null when the node does compute-heavy work whose shapes are unknown. */
export type NodeMacs = number | null;

export interface MacReport {
  /** Sum over nodes whose MACs are known. */
  macs: number;
  /** Per node, in graph order: 0 for nodes that do no multiply-accumulate work worth counting. */
  perNode: NodeMacs[];
  /** Names (or op types) of heavy nodes whose shapes were not fixed, so their MACs are missing. */
  unresolved: string[];
}

/** Op types whose multiply-accumulates are counted. Everything else counts as 0. */
export const MAC_OPS: readonly string[] = [
  'Conv',
  'ConvInteger',
  'QLinearConv',
  'ConvTranspose',
  'Gemm',
  'MatMul',
  'MatMulInteger',
  'QLinearMatMul',
];

/** Total multiply-accumulates of one inference (heavy nodes with unknown shapes count 0). */
export function countMacs(model: ModelProto): number {
  return analyzeMacs(model).macs;
}

export function analyzeMacs(model: ModelProto): MacReport {
  const graph = model.graph;
  if (!graph) return { macs: 0, perNode: [], unresolved: [] };
  const index = new GraphIndex(graph);
  const perNode = graph.node.map((node) => nodeMacs(index, node));
  const unresolved = graph.node.filter((_, i) => perNode[i] === null).map((n) => n.name || n.opType);
  const macs = perNode.reduce<number>((sum, m) => sum + (m ?? 0), 0);
  return { macs, perNode, unresolved };
}

/**
 * Multiply-accumulates of one node from its value shapes:
 * - Conv: output elements x (input channels / group) x kernel area, i.e. |Y| x |W| / W[0];
 * - ConvTranspose: input elements x (output channels / group) x kernel area = |X| x |W| / W[0];
 * - Gemm: M x N x K;
 * - MatMul (NumPy semantics, batched and broadcast): output elements x K.
 */
export function nodeMacs(index: GraphIndex, node: NodeProto): NodeMacs {
  const shape = (i: number, list: readonly string[]) => fixedShape(index.typeOf(list[i] ?? '')?.shape);
  switch (node.opType) {
    case 'Conv':
    case 'ConvInteger':
      return convMacs(shape(0, node.output), shape(1, node.input));
    case 'QLinearConv':
      // Inputs: x, x_scale, x_zero_point, w, ...
      return convMacs(shape(0, node.output), shape(3, node.input));
    case 'ConvTranspose':
      return convMacs(shape(0, node.input), shape(1, node.input));
    case 'Gemm':
      return gemmMacs(node, shape(0, node.input), shape(0, node.output));
    case 'MatMul':
    case 'MatMulInteger':
      return matmulMacs(shape(0, node.input), shape(0, node.output));
    case 'QLinearMatMul':
      return matmulMacs(shape(0, node.input), shape(0, node.output));
    default:
      return 0;
  }
}

function fixedShape(shape: Dim[] | undefined): number[] | null {
  if (!shape || shape.some((d) => typeof d !== 'number')) return null;
  return shape as number[];
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** `spread` is the tensor each weight slice is applied over (Conv: Y; ConvTranspose: X). */
function convMacs(spread: number[] | null, weight: number[] | null): NodeMacs {
  if (!spread || !weight || weight.length < 2) return null;
  return product(spread) * product(weight.slice(1));
}

function gemmMacs(node: NodeProto, a: number[] | null, y: number[] | null): NodeMacs {
  if (!a || !y || a.length !== 2 || y.length !== 2) return null;
  const k = (attrInt(node, 'transA') ?? 0) !== 0 ? a[0] : a[1];
  return y[0] * y[1] * k;
}

function matmulMacs(a: number[] | null, y: number[] | null): NodeMacs {
  if (!a || !y || a.length === 0) return null;
  // K is A's last axis in every case, including a 1-D A (a row vector).
  return product(y) * a[a.length - 1];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
/** Quantized weights are stored as 8-bit integers. */
const WEIGHT_TYPES = new Set<number>([...FLOAT_TYPES, DataType.INT8, DataType.UINT8]);

/**
 * Learned parameters: elements of the weight-typed initializers (float, or 8-bit quantized) and of
 * Constant nodes' tensors, with these exclusions, which match how frameworks publish counts:
 * - BatchNormalization's running mean and variance (inputs 3 and 4) are statistics, not parameters;
 * - rank-0 constants are hyper-parameters (epsilons, clip bounds, scales);
 * - int32/int64 tensors are shapes and indices.
 */
export function countParameters(model: ModelProto): number {
  const graph = model.graph;
  if (!graph) return 0;
  const statistics = new Set<string>();
  for (const node of graph.node) {
    if (node.opType === 'BatchNormalization') node.input.slice(3, 5).forEach((n) => statistics.add(n));
  }
  let count = 0;
  for (const t of graph.initializer) {
    if (statistics.has(t.name) || t.dims.length === 0 || !WEIGHT_TYPES.has(t.dataType)) continue;
    count += t.dims.reduce((n, d) => n * Number(d), 1);
  }
  for (const node of graph.node) {
    const value = node.opType === 'Constant' ? attr(node, 'value')?.t : undefined;
    if (!value || value.dims.length === 0 || !WEIGHT_TYPES.has(value.dataType)) continue;
    if (node.output.some((o) => statistics.has(o))) continue;
    count += value.dims.reduce((n, d) => n * Number(d), 1);
  }
  return count;
}
