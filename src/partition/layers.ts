import {
  GraphIndex,
  attrInt,
  nodeReads,
  nodeWrites,
  subgraphsOf,
  topologicalOrder,
  type Dim,
  type ModelProto,
  type NodeProto,
} from '../onnx/index.js';

/**
 * One schedulable layer: a compute-heavy anchor node with the cheap nodes that feed only it
 * or follow it. Its nodes are a contiguous run of the model's fixed topological order, so any
 * contiguous range of layers is a valid block.
 */
export interface Layer {
  /** Position in the model's layer order, from 0. */
  readonly index: number;
  /** Indices into `model.graph.node`, in execution (topological) order. */
  readonly nodes: readonly number[];
  /** Name of the anchor node (`<op>#<node index>` when the node is unnamed). */
  readonly anchor: string;
  /** Operator type of the anchor, or of the only node of an anchor-less layer. */
  readonly anchorOp: string;
  /** Operator types of the layer's nodes, anchor first. */
  readonly ops: readonly string[];
  /**
   * Multiply-accumulates of the anchor, from the shapes the model declares (symbolic dims
   * count as 1, i.e. per unit of batch); 0 when a needed shape is unknown or the op is cheap.
   */
  readonly macs: number;
}

/** Operators that do the bulk of a network's arithmetic: each starts its own layer. */
export const HEAVY_OPS: ReadonlySet<string> = new Set([
  'Conv',
  'ConvTranspose',
  'ConvInteger',
  'QLinearConv',
  'FusedConv',
  'NhwcConv',
  'Gemm',
  'FusedGemm',
  'MatMul',
  'MatMulInteger',
  'QLinearMatMul',
  'FusedMatMul',
  'MatMulNBits',
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'QAttention',
  'LSTM',
  'GRU',
  'RNN',
  'Einsum',
]);

/** Heavy ops, and nodes with subgraphs (If, Loop, Scan): those are kept whole, as anchors. */
export function isAnchor(node: NodeProto): boolean {
  return HEAVY_OPS.has(node.opType) || subgraphsOf(node).length > 0;
}

/**
 * Partitions a model into layers, numbered in one fixed topological order (the file's order
 * where it already is one, which exporters write in execution order).
 *
 * Rule: every anchor opens a layer. The cheap nodes between anchor A and the next anchor B
 * stay with A while they read something A's layer produced (BatchNorm, Relu, the Add that
 * closes a residual, pooling); from the first one that does not, they belong to B (they feed
 * it: a Reshape's shape computation, the Pool of another Inception branch). Cheap nodes before
 * the first anchor join the first layer and those after the last anchor join the last one.
 * A graph without any anchor gets one layer per node, so it still splits into blocks.
 */
export function discoverLayers(model: ModelProto): Layer[] {
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const order = topologicalOrder(graph);
  const index = new GraphIndex(graph);
  const anchorsAt = order.flatMap((n, p) => (isAnchor(graph.node[n]) ? [p] : []));
  const split = anchorsAt.length === 0 ? order.map((_, p) => [p, p + 1]) : splitRuns(order, anchorsAt, index);
  const runs = mergeAcrossNonTensors(split, order, index);
  return runs.map(([from, to], layerIndex) => {
    const nodes = order.slice(from, to);
    const anchorNode = nodes.find((n) => isAnchor(graph.node[n])) ?? nodes[0];
    return makeLayer(layerIndex, nodes, anchorNode, index);
  });
}

/** [from, to) positions in `order` of each layer, one per anchor. */
function splitRuns(order: readonly number[], anchorsAt: readonly number[], index: GraphIndex): number[][] {
  const runs: number[][] = [];
  let start = 0;
  anchorsAt.forEach((a, k) => {
    const next = k + 1 < anchorsAt.length ? anchorsAt[k + 1] : order.length;
    let end = a + 1;
    if (next === order.length) {
      end = order.length;
    } else {
      const produced = new Set<string>();
      for (let p = start; p <= a; p++) nodeWrites(index.node(order[p])).forEach((o) => produced.add(o));
      while (end < next && nodeReads(index.node(order[end])).some((r) => produced.has(r))) {
        nodeWrites(index.node(order[end])).forEach((o) => produced.add(o));
        end++;
      }
    }
    runs.push([start, end]);
    start = end;
  });
  return runs;
}

/** Operators whose outputs are sequences, optionals or maps, never plain tensors. */
const NON_TENSOR_OPS: ReadonlySet<string> = new Set([
  'SequenceConstruct',
  'SequenceEmpty',
  'SequenceInsert',
  'SequenceErase',
  'SplitToSequence',
  'SequenceMap',
  'Optional',
  'ZipMap',
  'CastMap',
]);

function isNonTensor(name: string, index: GraphIndex): boolean {
  const declared = index.valueInfo.get(name)?.type?.value.case;
  if (declared !== undefined) return declared !== 'tensorType';
  const p = index.producer.get(name);
  return p !== undefined && NON_TENSOR_OPS.has(index.node(p).opType);
}

/**
 * Blocks exchange values as ORT tensors, so no block boundary may fall where a sequence,
 * optional or map is alive: such runs are merged into one layer.
 */
function mergeAcrossNonTensors(runs: number[][], order: readonly number[], index: GraphIndex): number[][] {
  const positionOf = new Map(order.map((n, p) => [n, p]));
  const noCut = new Array<boolean>(order.length + 1).fill(false);
  order.forEach((n, p) => {
    for (const r of nodeReads(index.node(n))) {
      const producer = index.producer.get(r);
      if (producer === undefined || !isNonTensor(r, index)) continue;
      for (let q = (positionOf.get(producer) as number) + 1; q <= p; q++) noCut[q] = true;
    }
  });
  const merged: number[][] = [];
  for (const run of runs) {
    const last = merged[merged.length - 1];
    if (last && noCut[run[0]]) last[1] = run[1];
    else merged.push([...run]);
  }
  return merged;
}

function makeLayer(layerIndex: number, nodes: number[], anchorNode: number, index: GraphIndex): Layer {
  const anchor = index.node(anchorNode);
  const others = nodes.filter((n) => n !== anchorNode).map((n) => index.node(n).opType);
  return {
    index: layerIndex,
    nodes,
    anchor: anchor.name || `${anchor.opType}#${anchorNode}`,
    anchorOp: anchor.opType,
    ops: [anchor.opType, ...others],
    macs: isAnchor(anchor) ? macsOf(anchor, index) : 0,
  };
}

/** Product of known dims; symbolic dims count as 1; undefined when any dim is unknown. */
function product(shape: readonly Dim[] | undefined): number | undefined {
  if (!shape) return undefined;
  let n = 1;
  for (const d of shape) {
    if (d === null) return undefined;
    if (typeof d === 'number') n *= d;
  }
  return n;
}

function shapeOf(index: GraphIndex, name: string | undefined): Dim[] | undefined {
  return name ? index.typeOf(name)?.shape : undefined;
}

function dimAt(shape: Dim[] | undefined, i: number): number | undefined {
  const d = shape?.[i < 0 ? shape.length + i : i];
  return typeof d === 'number' ? d : typeof d === 'string' ? 1 : undefined;
}

/** MACs of one anchor from declared shapes; 0 when they do not allow it. */
export function macsOf(node: NodeProto, index: GraphIndex): number {
  const out = shapeOf(index, node.output[0]);
  const w = shapeOf(index, node.input[1]);
  switch (node.opType) {
    case 'Conv':
    case 'FusedConv':
    case 'ConvInteger': {
      const perOutput = product(w?.slice(1)); // Cin/group * kernel
      const outs = product(out);
      return perOutput !== undefined && outs !== undefined ? perOutput * outs : 0;
    }
    case 'ConvTranspose': {
      const inputs = product(shapeOf(index, node.input[0]));
      const group = attrInt(node, 'group') ?? 1;
      const perInput = product(w?.slice(1)); // Cout/group * kernel
      return inputs !== undefined && perInput !== undefined ? (inputs * perInput) / Math.max(1, group) : 0;
    }
    case 'Gemm':
    case 'FusedGemm':
    case 'MatMul':
    case 'FusedMatMul':
    case 'MatMulInteger': {
      const a = shapeOf(index, node.input[0]);
      const transA = node.opType.includes('Gemm') ? (attrInt(node, 'transA') ?? 0) : 0;
      const k = dimAt(a, transA ? -2 : -1);
      const outs = product(out);
      return k !== undefined && outs !== undefined ? k * outs : 0;
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      // W: [dirs, gates*H, I], R: [dirs, gates*H, H]; per step and batch item: gates*H*(I+H).
      const x = shapeOf(index, node.input[0]);
      const r = shapeOf(index, node.input[2]);
      const perStep = [w, r].map((s) => product(s));
      const steps = product(x?.slice(0, 2));
      if (steps === undefined || perStep.some((p) => p === undefined)) return 0;
      return steps * ((perStep[0] as number) + (perStep[1] as number));
    }
    default:
      return 0;
  }
}
