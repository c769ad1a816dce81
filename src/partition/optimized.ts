import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel, loadModel, nodeReads, topologicalOrder, type ModelProto } from '../onnx/index.js';
import { discoverLayers, type Layer } from './layers.js';
import { openSession } from './session.js';

/**
 * Why: cutting the original graph makes every block a separate ORT graph, so at `all` each
 * block converts its input to the NCHWc blocked layout and its output back — two full passes
 * over every boundary tensor that the whole model never makes. Instead we let ORT optimize
 * the whole model once, save that graph (NCHWc convs with BatchNorm, activations and residual
 * Adds fused in), map its nodes back to our layers, and cut it: boundaries then carry tensors
 * already in ORT's internal layout, and a block plan runs exactly the whole model's kernels.
 *
 * Mapping: ORT names a fused node after one of the nodes it replaces, so most nodes map back
 * by name. Where that breaks the layer order (ORT fuses a ResNet shortcut Add into the main
 * path's last conv, which then must run after the shortcut conv), the optimized graph is
 * partitioned afresh by `discoverLayers`; it is used when it has the same number of layers
 * with the same anchor kinds, so layer i is the original layer i or its neighbour in the same
 * residual block. Returns undefined otherwise (e.g. ORT fused several layers' MatMuls into one
 * Attention node): callers then cut the original graph.
 */
export async function ortOptimizedLayers(
  model: ModelProto,
  layers: readonly Layer[],
): Promise<{ model: ModelProto; layers: Layer[] } | undefined> {
  const optimized = await optimizeWithOrt(model);
  if (!optimized?.graph || !model.graph) return undefined;
  const byName = mapByName(model, layers, optimized);
  if (byName) return { model: optimized, layers: byName };
  const fresh = discoverLayers(optimized);
  const sameKinds = fresh.length === layers.length && fresh.every((l, i) => kind(l) === kind(layers[i]));
  return sameKinds ? { model: optimized, layers: fresh } : undefined;
}

/** Anchors ORT may rewrite into one another (MatMul + Add -> Gemm, Conv -> NCHWc Conv). */
function kind(layer: Layer): string {
  if (/Conv/.test(layer.anchorOp)) return 'conv';
  if (/MatMul|Gemm/.test(layer.anchorOp)) return 'matmul';
  return layer.anchorOp;
}

function mapByName(model: ModelProto, layers: readonly Layer[], optimized: ModelProto): Layer[] | undefined {
  if (!model.graph || !optimized.graph) return undefined;
  const layerOfName = new Map<string, number>();
  for (const layer of layers)
    for (const n of layer.nodes) layerOfName.set(model.graph.node[n].name, layer.index);
  const graph = optimized.graph;
  const order = topologicalOrder(graph);
  const producer = new Map<string, number>();
  graph.node.forEach((node, i) => node.output.forEach((o) => producer.set(o, i)));
  const layerOf = new Array<number>(graph.node.length).fill(-1);
  // Forward pass: a node keeps the layer of the original node it is named after (ORT names a
  // fused node after one of the nodes it replaces), but never earlier than what it reads.
  for (const i of order) {
    const node = graph.node[i];
    const after = Math.max(-1, ...nodeReads(node).map((r) => layerOf[producer.get(r) ?? -1] ?? -1));
    const named = originalName(node.name, layerOfName);
    layerOf[i] = named === undefined ? after : Math.max(named, after);
  }
  // Backward pass: nodes that read only graph inputs and constants join their first reader.
  const readers = new Map<number, number[]>();
  graph.node.forEach((node, i) => {
    for (const r of nodeReads(node)) {
      const p = producer.get(r);
      if (p !== undefined) readers.set(p, [...(readers.get(p) ?? []), i]);
    }
  });
  for (const i of [...order].reverse()) {
    if (layerOf[i] >= 0) continue;
    const next = (readers.get(i) ?? []).map((c) => layerOf[c]).filter((l) => l >= 0);
    layerOf[i] = next.length > 0 ? Math.min(...next) : 0;
  }
  const position = new Map(order.map((n, p) => [n, p]));
  const mapped: Layer[] = layers.map((l) => ({
    ...l,
    nodes: order
      .filter((n) => layerOf[n] === l.index)
      .sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0)),
  }));
  if (mapped.some((l) => l.nodes.length === 0)) return undefined;
  return mapped.map((l) => ({ ...l, ops: l.nodes.map((n) => graph.node[n].opType) }));
}

/** `relu_3_nchwc` and `matmul_2/MatMulAddFusion` are named after `relu_3` and `matmul_2`. */
function originalName(name: string, layerOfName: ReadonlyMap<string, number>): number | undefined {
  for (const candidate of [name, name.split('/')[0], name.replace(/_nchwc$/, '')]) {
    const layer = layerOfName.get(candidate);
    if (layer !== undefined) return layer;
  }
  return undefined;
}

/** The graph ORT runs for `model` at optimization level `all`, as ORT saves it. */
async function optimizeWithOrt(model: ModelProto): Promise<ModelProto | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'veltair-opt-'));
  const path = join(dir, 'optimized.onnx');
  try {
    // The NCHWc layout does not depend on the thread count: one thread, no spinning.
    const session = await openSession(
      encodeModel(model),
      { threads: 1, optimization: 'all', spinning: false },
      '<model>',
      { saveOptimizedTo: path },
    );
    await session.release();
    return await loadModel(path);
  } catch {
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
