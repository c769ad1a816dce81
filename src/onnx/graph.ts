import type { GraphProto, NodeProto, ValueInfoProto, TensorProto, TypeProto, AttributeProto } from 'onnx-buf';
import { AttributeProto_AttributeType as AttrType } from 'onnx-buf';

export type { NodeProto, ValueInfoProto, TensorProto, AttributeProto };

/** One dimension: a number when fixed, a name when symbolic, null when unknown. */
export type Dim = number | string | null;

export interface TensorType {
  /** ONNX TensorProto.DataType code. */
  elemType: number;
  /** Undefined when the rank is unknown. */
  shape?: Dim[];
}

/** Graphs held by a node's attributes (If's branches, Loop's and Scan's bodies). */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  for (const a of node.attribute) {
    if (a.g) graphs.push(a.g);
    graphs.push(...a.graphs);
  }
  return graphs;
}

/**
 * Names a subgraph reads from the enclosing scope: used inside, but neither produced,
 * declared as input, nor held as initializer there (recursively).
 */
export function outerScopeReads(graph: GraphProto): Set<string> {
  const local = new Set<string>([
    ...graph.input.map((v) => v.name),
    ...graph.initializer.map((t) => t.name),
    ...graph.sparseInitializer.map((t) => t.values?.name ?? ''),
  ]);
  for (const n of graph.node) for (const o of n.output) local.add(o);
  const reads = new Set<string>();
  const visit = (name: string) => {
    if (name !== '' && !local.has(name)) reads.add(name);
  };
  for (const n of graph.node) {
    n.input.forEach(visit);
    for (const g of subgraphsOf(n)) outerScopeReads(g).forEach(visit);
  }
  graph.output.forEach((o) => visit(o.name));
  return reads;
}

/** Every value a node reads: its explicit inputs and what its subgraphs capture from outside. */
export function nodeReads(node: NodeProto): string[] {
  const reads = new Set(node.input.filter((n) => n !== ''));
  for (const g of subgraphsOf(node)) for (const r of outerScopeReads(g)) reads.add(r);
  return [...reads];
}

export function nodeWrites(node: NodeProto): string[] {
  return node.output.filter((n) => n !== '');
}

/** Indexes over one graph's dataflow, built once and queried many times. */
export class GraphIndex {
  readonly producer = new Map<string, number>();
  readonly consumers = new Map<string, number[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly valueInfo = new Map<string, ValueInfoProto>();
  /** Graph inputs that are not initializers: what a caller must feed. */
  readonly feedInputs: ValueInfoProto[];
  readonly outputNames: Set<string>;

  constructor(readonly graph: GraphProto) {
    graph.node.forEach((node, i) => {
      for (const o of nodeWrites(node)) this.producer.set(o, i);
      for (const r of nodeReads(node)) {
        const list = this.consumers.get(r) ?? [];
        list.push(i);
        this.consumers.set(r, list);
      }
    });
    for (const t of graph.initializer) this.initializers.set(t.name, t);
    for (const v of [...graph.input, ...graph.valueInfo, ...graph.output]) this.valueInfo.set(v.name, v);
    this.feedInputs = graph.input.filter((v) => !this.initializers.has(v.name));
    this.outputNames = new Set(graph.output.map((o) => o.name));
  }

  node(i: number): NodeProto {
    return this.graph.node[i];
  }

  typeOf(name: string): TensorType | undefined {
    const t = this.valueInfo.get(name)?.type;
    if (t) return tensorTypeOf(t);
    const init = this.initializers.get(name);
    if (init) return { elemType: init.dataType, shape: init.dims.map(Number) };
    return undefined;
  }
}

export function tensorTypeOf(type: TypeProto): TensorType | undefined {
  if (type.value.case !== 'tensorType') return undefined;
  const tt = type.value.value;
  if (!tt.shape) return { elemType: tt.elemType };
  const shape = tt.shape.dim.map((d): Dim => {
    if (d.value.case === 'dimValue') return Number(d.value.value);
    if (d.value.case === 'dimParam') return d.value.value;
    return null;
  });
  return { elemType: tt.elemType, shape };
}

/**
 * Node indices in a topological order. Stable: among ready nodes, the one first in the file
 * comes first, so a graph already sorted (as ONNX requires) keeps its order.
 * Throws on a cycle or a read of a value nothing provides.
 */
export function topologicalOrder(graph: GraphProto): number[] {
  const index = new GraphIndex(graph);
  const available = new Set<string>([...graph.input.map((v) => v.name), ...index.initializers.keys()]);
  const missing = graph.node.map((node) => nodeReads(node).filter((r) => !available.has(r)).length);
  const readyHeap: number[] = [];
  missing.forEach((m, i) => m === 0 && readyHeap.push(i));
  const order: number[] = [];
  const produced = new Set<string>();
  while (readyHeap.length > 0) {
    readyHeap.sort((a, b) => a - b);
    const i = readyHeap.shift() as number;
    order.push(i);
    for (const o of nodeWrites(graph.node[i])) {
      if (produced.has(o) || available.has(o)) continue;
      produced.add(o);
      for (const c of index.consumers.get(o) ?? []) {
        missing[c] -= countOf(nodeReads(graph.node[c]), o);
        if (missing[c] === 0) readyHeap.push(c);
      }
    }
  }
  if (order.length !== graph.node.length) {
    const stuck = graph.node.findIndex((_, i) => missing[i] > 0);
    const node = graph.node[stuck];
    const unmet = nodeReads(node).filter((r) => !available.has(r) && !produced.has(r));
    throw new Error(
      `graph is not a DAG or reads undefined values: node ${node.name || node.opType} (#${stuck}) waits for ${unmet.join(', ')}`,
    );
  }
  return order;
}

function countOf(list: string[], name: string): number {
  return list.filter((x) => x === name).length;
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  if (!a) return undefined;
  return a.type === AttrType.INTS || a.ints.length > 0 ? a.ints.map(Number) : undefined;
}

export function attrInt(node: NodeProto, name: string): number | undefined {
  const a = attr(node, name);
  return a ? Number(a.i) : undefined;
}

/** Element count of a tensor with fixed dims. */
export function elementCount(dims: readonly (number | bigint)[]): number {
  return dims.reduce<number>((n, d) => n * Number(d), 1);
}
