import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import {
  tensorTypeBytes,
  GraphIndex,
  nodeReads,
  nodeWrites,
  valueInfo,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/index.js';
import type { Layer } from './layers.js';
import type { BlockRange } from './plan.js';
import { VeltairError } from '../errors/index.js';

/** What a block exchanges with the rest of the model. */
export interface BlockBoundary {
  /** Values the block must be fed: graph inputs it reads and values earlier blocks produce. */
  readonly inputs: readonly string[];
  /** Values it must hand on: those read by later layers, and graph outputs it produces. */
  readonly outputs: readonly string[];
}

/**
 * A `Constant` node needs nothing: a block that reads its value gets its own copy of the node
 * instead of a feed, so ORT still sees a constant (and folds shapes, fuses) inside the block.
 */
function isFreeConstant(node: NodeProto): boolean {
  return (
    node.opType === 'Constant' && (node.domain === '' || node.domain === 'ai.onnx') && node.input.length === 0
  );
}

/**
 * Per-model dataflow facts needed to cut blocks, computed once: create one per model and ask it
 * for every block of every plan.
 */
export class ModelPartition {
  readonly index: GraphIndex;
  /** Layer that contains each node (by node index). */
  private readonly layerOfNode: number[];
  /** For every value: the last layer that reads it (-1 when none does). */
  private readonly lastReader = new Map<string, number>();
  /** For every value read by some layer: the layers that read it. */
  private readonly readers = new Map<string, number[]>();
  private readonly graphInputs: Set<string>;

  constructor(
    readonly model: ModelProto,
    readonly layers: readonly Layer[],
  ) {
    if (!model.graph) throw new VeltairError('partition_failed', 'model has no graph');
    this.index = new GraphIndex(model.graph);
    this.graphInputs = new Set(model.graph.input.map((v) => v.name));
    this.layerOfNode = new Array<number>(model.graph.node.length).fill(-1);
    for (const layer of layers) {
      for (const n of layer.nodes) {
        this.layerOfNode[n] = layer.index;
        for (const r of nodeReads(model.graph.node[n])) {
          const list = this.readers.get(r) ?? [];
          if (list[list.length - 1] !== layer.index) list.push(layer.index);
          this.readers.set(r, list);
          this.lastReader.set(r, Math.max(this.lastReader.get(r) ?? -1, layer.index));
        }
      }
    }
  }

  private checkRange([from, to]: BlockRange): void {
    if (
      !Number.isInteger(from) ||
      !Number.isInteger(to) ||
      from < 0 ||
      to > this.layers.length ||
      from >= to
    ) {
      throw new VeltairError(
        'partition_failed',
        `block [${from}, ${to}) is not a non-empty range of the ${this.layers.length} layers`,
      );
    }
  }

  private nodesOf([from, to]: BlockRange): number[] {
    return this.layers.slice(from, to).flatMap((l) => l.nodes);
  }

  /** Constant nodes outside the block whose values the block reads (copied into it). */
  private borrowedConstants(nodes: readonly number[]): number[] {
    const own = new Set(nodes);
    const borrowed = new Set<number>();
    for (const n of nodes) {
      for (const r of nodeReads(this.index.node(n))) {
        const p = this.index.producer.get(r);
        if (p !== undefined && !own.has(p) && isFreeConstant(this.index.node(p))) borrowed.add(p);
      }
    }
    return [...borrowed].sort((a, b) => a - b);
  }

  /** The values block `range` reads from outside and hands on. */
  boundary(range: BlockRange): BlockBoundary {
    this.checkRange(range);
    const nodes = this.nodesOf(range);
    return this.boundaryOf(range, nodes, this.borrowedConstants(nodes));
  }

  private boundaryOf(
    range: BlockRange,
    nodes: readonly number[],
    borrowed: readonly number[],
  ): BlockBoundary {
    const [, to] = range;
    const produced = new Set<string>();
    for (const n of [...borrowed, ...nodes]) nodeWrites(this.index.node(n)).forEach((o) => produced.add(o));
    const inputs: string[] = [];
    const seen = new Set<string>();
    for (const n of nodes) {
      for (const r of nodeReads(this.index.node(n))) {
        if (seen.has(r) || produced.has(r)) continue;
        seen.add(r);
        // Initializers travel inside the block, unless the graph also declares them as inputs
        // (an overridable default): then the block declares them too, as the model does.
        if (this.index.initializers.has(r) && !this.graphInputs.has(r)) continue;
        inputs.push(r);
      }
    }
    const graphInputOrder = new Map(this.model.graph?.input.map((v, i) => [v.name, i]));
    inputs.sort((a, b) => (graphInputOrder.get(a) ?? Infinity) - (graphInputOrder.get(b) ?? Infinity));
    const outputs: string[] = [];
    for (const n of nodes) {
      const node = this.index.node(n);
      for (const o of nodeWrites(node)) {
        const readLater = (this.lastReader.get(o) ?? -1) >= to;
        if (this.index.outputNames.has(o) || (readLater && !isFreeConstant(node))) outputs.push(o);
      }
    }
    // A block whose results nobody reads (dead code) still needs an output to be a valid model.
    if (outputs.length === 0) outputs.push(...nodeWrites(this.index.node(nodes[nodes.length - 1])));
    return { inputs, outputs };
  }

  /**
   * A standalone model computing block `range`: its nodes (plus copies of the Constant nodes
   * it reads), the initializers it uses, typed inputs, outputs typed where the model knows
   * the type (ORT infers the rest), the model's opsets, IR version and local functions.
   * The block shares node and initializer objects with `model`: treat both as read-only.
   * Throws `partition_failed` when an input's type is unknown (see `inferValueTypes`).
   */
  extract(range: BlockRange): ModelProto {
    this.checkRange(range);
    const graph = this.model.graph;
    if (!graph) throw new VeltairError('partition_failed', 'model has no graph');
    const nodes = this.nodesOf(range);
    const borrowed = this.borrowedConstants(nodes);
    const { inputs, outputs } = this.boundaryOf(range, nodes, borrowed);
    const blockNodes = [...borrowed, ...nodes].map((n) => graph.node[n]);
    const used = usedNames(blockNodes);
    const internal = new Set<string>();
    for (const node of blockNodes) nodeWrites(node).forEach((o) => internal.add(o));
    outputs.forEach((o) => internal.delete(o));
    const [from, to] = range;
    return create(ModelProtoSchema, {
      irVersion: this.model.irVersion,
      opsetImport: this.model.opsetImport,
      producerName: 'veltair',
      producerVersion: this.model.producerVersion,
      domain: this.model.domain,
      modelVersion: this.model.modelVersion,
      functions: this.model.functions,
      graph: create(GraphProtoSchema, {
        name: `${graph.name || 'graph'}_block_${from}_${to}`,
        node: blockNodes,
        input: inputs.map((name) => this.inputInfo(name, range)),
        output: outputs.map((name) => this.index.valueInfo.get(name) ?? untyped(name)),
        initializer: graph.initializer.filter((t) => used.has(t.name)),
        sparseInitializer: graph.sparseInitializer.filter((t) => used.has(t.values?.name ?? '')),
        valueInfo: graph.valueInfo.filter((v) => internal.has(v.name)),
      }),
    });
  }

  private inputInfo(name: string, [from, to]: BlockRange): ValueInfoProto {
    const info = this.index.valueInfo.get(name);
    if (info?.type?.value.case) return info;
    const init = this.index.initializers.get(name);
    if (init) return initializerInfo(init);
    throw new VeltairError(
      'partition_failed',
      `block [${from}, ${to}) reads '${name}' whose type the model does not declare (run inferValueTypes on the model first)`,
    );
  }

  /**
   * Bytes of the tensors a block boundary before layer `k` hands over (0 < k < layers): every
   * value produced before k that layer k or a later one reads (graph inputs are the caller's
   * and cross no boundary). Symbolic dims count as 1 and values of unknown shape as their
   * element size: a relative measure of what crossing that boundary costs, to put block
   * boundaries where little crosses.
   */
  cutBytes(k: number): number {
    const crossing = this.boundary([k, this.layers.length]).inputs.filter((n) => !this.graphInputs.has(n));
    return crossing.reduce((sum, name) => sum + tensorTypeBytes(this.index.typeOf(name)), 0);
  }

  /** Layer that produces `name`, or -1 for graph inputs, initializers and unknown names. */
  producerLayer(name: string): number {
    const p = this.index.producer.get(name);
    return p === undefined ? -1 : this.layerOfNode[p];
  }

  /** The last layer that reads `name` (-1 when no layer does). */
  lastReaderOf(name: string): number {
    return this.lastReader.get(name) ?? -1;
  }
}

/** Every name the nodes read, including what their subgraphs read from outer scopes. */
function usedNames(nodes: readonly NodeProto[]): Set<string> {
  const used = new Set<string>();
  for (const node of nodes) nodeReads(node).forEach((r) => used.add(r));
  return used;
}

function untyped(name: string): ValueInfoProto {
  return create(ValueInfoProtoSchema, { name });
}

function initializerInfo(t: TensorProto): ValueInfoProto {
  return valueInfo(t.name, t.dataType, t.dims.map(Number));
}

/**
 * Cuts layers [from, to) out of `model` as a standalone model (see `ModelPartition.extract`;
 * build one `ModelPartition` instead when cutting many blocks of the same model).
 */
export function extractBlock(model: ModelProto, layers: readonly Layer[], range: BlockRange): ModelProto {
  return new ModelPartition(model, layers).extract(range);
}
