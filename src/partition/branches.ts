/**
 * Control flow decided by pinned inputs. A model whose network sits inside an `If` (say, one
 * network per sample rate) is a single node to the partitioner: nothing inside it can be
 * scheduled. When the inputs its condition depends on are pinned (a model config serving one
 * sample rate, `verify --pin`), the condition is a constant: the graph is specialised to the
 * branch it takes, whose nodes then become layers like any other.
 */
import { create } from '@bufbuild/protobuf';
import type * as ort from 'onnxruntime-node';
import { GraphProtoSchema, NodeProtoSchema } from 'onnx-buf';
import {
  DataType,
  GraphIndex,
  attr,
  decodeModel,
  encodeModel,
  nodeReads,
  nodeWrites,
  subgraphsOf,
  valueInfo,
  type GraphProto,
  type ModelProto,
  type NodeProto,
} from '../onnx/index.js';
import { DEFAULT_SESSION_CONFIG, openSession } from './session.js';

/** Values of pinned inputs, by input name. */
export type InputPins = ReadonlyMap<string, ort.Tensor>;

/** One `If` the pins decided, and the branch the specialised graph keeps. */
export interface TakenBranch {
  readonly node: string;
  readonly branch: 'then_branch' | 'else_branch';
}

/**
 * `model` (a copy) with every `If` whose condition depends only on pinned inputs and constants
 * replaced by the nodes of the branch it takes, nested ones included, and the nodes that only
 * fed those conditions removed. The pinned inputs stay inputs: callers still feed them, with
 * the pinned values.
 */
export async function specializeBranches(
  model: ModelProto,
  pins: InputPins,
): Promise<{ model: ModelProto; taken: TakenBranch[] }> {
  const out = decodeModel(encodeModel(model));
  const graph = out.graph;
  const taken: TakenBranch[] = [];
  if (!graph || pins.size === 0) return { model: out, taken };
  for (;;) {
    const index = new GraphIndex(graph);
    let decidable = -1;
    let condNodes: number[] | undefined;
    for (let i = 0; i < graph.node.length && !condNodes; i++) {
      if (graph.node[i].opType !== 'If') continue;
      condNodes = decidedBy(index, graph.node[i].input[0], pins);
      decidable = i;
    }
    if (!condNodes) break;
    const node = graph.node[decidable];
    const cond = await evaluateCondition(out, index, node.input[0], condNodes, pins);
    const branch = cond ? 'then_branch' : 'else_branch';
    const body = attr(node, branch)?.g;
    if (!body) throw new Error(`If node '${node.name}' has no ${branch}`);
    const name = node.name || `If#${decidable}`;
    graph.node.splice(decidable, 1, ...inlined(graph, body, node, `${name}/`));
    taken.push({ node: name, branch });
    removeDeadNodes(graph);
  }
  return { model: out, taken };
}

/**
 * The nodes computing `value`, when it depends only on pinned inputs and initializers (empty:
 * `value` is one of those); undefined when any other input reaches it.
 */
function decidedBy(index: GraphIndex, value: string, pins: InputPins): number[] | undefined {
  const nodes = new Set<number>();
  const pending = [value];
  while (pending.length > 0) {
    const v = pending.pop() as string;
    if (pins.has(v) || index.initializers.has(v)) continue;
    const producer = index.producer.get(v);
    if (producer === undefined) return undefined;
    if (nodes.has(producer)) continue;
    nodes.add(producer);
    pending.push(...nodeReads(index.node(producer)).filter((r) => r !== ''));
  }
  return [...nodes].sort((a, b) => a - b);
}

/** Runs the nodes that compute an `If`'s condition, on the pinned values, in ONNX Runtime. */
async function evaluateCondition(
  model: ModelProto,
  index: GraphIndex,
  cond: string,
  condNodes: readonly number[],
  pins: InputPins,
): Promise<boolean> {
  const pinned = pins.get(cond);
  if (pinned) return Boolean(pinned.data[0]);
  const nodes = condNodes.map((i) => index.node(i));
  const reads = new Set(nodes.flatMap(nodeReads));
  const graph = index.graph;
  const probe = decodeModel(encodeModel(model));
  probe.graph = create(GraphProtoSchema, {
    name: `${graph.name}/condition`,
    node: nodes,
    input: graph.input.filter((v) => pins.has(v.name) && reads.has(v.name)),
    initializer: graph.initializer.filter((t) => reads.has(t.name)),
    output: [valueInfo(cond, DataType.BOOL)],
  });
  const session = await openSession(encodeModel(probe), DEFAULT_SESSION_CONFIG, probe.graph.name);
  try {
    const feeds = Object.fromEntries(probe.graph.input.map((v) => [v.name, pins.get(v.name) as ort.Tensor]));
    const result = await session.run(feeds);
    return Boolean(result[cond].data[0]);
  } finally {
    await session.release();
  }
}

/**
 * The nodes of `body` as nodes of `graph` in place of `ifNode`: names local to the branch get
 * `prefix` (so none collides with the outer graph's), the branch's outputs become the `If`'s
 * outputs, its initializers and value types move to the outer graph.
 */
function inlined(graph: GraphProto, body: GraphProto, ifNode: NodeProto, prefix: string): NodeProto[] {
  const local = new Set([...body.node.flatMap(nodeWrites), ...body.initializer.map((t) => t.name)]);
  const rename = new Map<string, string>();
  for (const name of local) rename.set(name, `${prefix}${name}`);
  const passThrough: NodeProto[] = [];
  body.output.forEach((o, k) => {
    const target = ifNode.output[k];
    if (body.node.some((n) => n.output.includes(o.name))) rename.set(o.name, target);
    else passThrough.push(identity(rename.get(o.name) ?? o.name, target, `${prefix}output_${k}`));
  });
  const nodes = body.node.map((n) => renamed(n, rename, prefix));
  graph.initializer.push(...body.initializer.map((t) => ({ ...t, name: rename.get(t.name) ?? t.name })));
  graph.valueInfo.push(
    ...body.valueInfo
      .filter((v) => rename.has(v.name))
      .map((v) => ({ ...v, name: rename.get(v.name) as string })),
  );
  return [...nodes, ...passThrough];
}

/** `node` with every name `rename` maps replaced, in its nested subgraphs too. */
function renamed(node: NodeProto, rename: ReadonlyMap<string, string>, prefix: string): NodeProto {
  const map = (name: string) => rename.get(name) ?? name;
  return create(NodeProtoSchema, {
    ...node,
    name: node.name ? `${prefix}${node.name}` : node.name,
    input: node.input.map(map),
    output: node.output.map(map),
    attribute: node.attribute.map((a) => (a.g ? { ...a, g: renamedGraph(a.g, rename, prefix) } : a)),
  });
}

function renamedGraph(graph: GraphProto, rename: ReadonlyMap<string, string>, prefix: string): GraphProto {
  const map = <T extends { name: string }>(v: T): T => ({ ...v, name: rename.get(v.name) ?? v.name });
  return create(GraphProtoSchema, {
    ...graph,
    node: graph.node.map((n) => renamed(n, rename, prefix)),
    input: graph.input.map(map),
    output: graph.output.map(map),
    initializer: graph.initializer.map(map),
    valueInfo: graph.valueInfo.map(map),
  });
}

function identity(from: string, to: string, name: string): NodeProto {
  return create(NodeProtoSchema, { name, opType: 'Identity', input: [from], output: [to] });
}

/** Drops nodes nothing reads (the conditions of replaced `If`s) and the initializers only they read. */
function removeDeadNodes(graph: GraphProto): void {
  const outputs = new Set(graph.output.map((o) => o.name));
  for (let changed = true; changed;) {
    const read = new Set(graph.node.flatMap(nodeReads));
    const before = graph.node.length;
    graph.node = graph.node.filter(
      (n) => subgraphsOf(n).length > 0 || n.output.some((o) => read.has(o) || outputs.has(o)),
    );
    changed = graph.node.length !== before;
  }
  const read = new Set(graph.node.flatMap(nodeReads));
  const inputs = new Set(graph.input.map((v) => v.name));
  graph.initializer = graph.initializer.filter((t) => read.has(t.name) || inputs.has(t.name));
}
