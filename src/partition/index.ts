/**
 * Layers and blocks (DESIGN 2.1): partitions any ONNX model into layers in one fixed
 * topological order and cuts any contiguous layer range [from, to) into a standalone model.
 *
 * Typical use:
 *   const typed = await inferValueTypes(model, path); // declare every intermediate's type
 *   const layers = discoverLayers(typed);              // Layer[]: anchor, nodes, ops, macs
 *   const cut = new ModelPartition(typed, layers);     // build once per model
 *   for (const range of planBlocks(layers, 4)) encodeModel(cut.extract(range));
 *   // or, for a single block: extractBlock(typed, layers, [i, j])
 *
 * - `discoverLayers(model)`: pure; every node in exactly one layer, layers contiguous in the
 *   order, so every [i, j) is a valid block. No heavy node at all: one layer per node.
 * - `extractBlock` / `ModelPartition.extract`: block inputs are the non-initializer values it
 *   reads that come from graph inputs or earlier layers; outputs are what later layers read or
 *   the graph outputs; only the initializers it uses. Throws `partition_failed` when an input's
 *   type is unknown: call `inferValueTypes` (loads the model once in ORT; runs nothing) first.
 * - `ModelPartition.boundary(range)`: the block's input and output names without cutting.
 * - `planBlocks(layers, 'layer' | n | 'whole')`, `planEvenBlocks(layerCount, blocks)`,
 *   `planCoarseBlocks(layerCount, blocks, (k) => cut.cutBytes(k))` (cheap boundaries).
 * - `ortOptimizedLayers(model, layers)`: ORT's optimized graph (NCHWc, fusions) with its nodes
 *   mapped onto the same layer indices, or undefined when ORT's fusions cross layers. Cut it
 *   with `new ModelPartition(await inferValueTypes(r.model), r.layers)` to measure or run blocks
 *   at optimization `all` without layout conversions at block boundaries (the executor does).
 * - `specializeBranches(model, pins)`: the graph with each `If` that pinned input values decide
 *   replaced by the branch it takes, so that the layers inside it can be cut.
 * - `openSession(bytes, config, source)`: every ONNX Runtime session veltair opens, with every
 *   knob of `SessionConfig` (threads, optimization, spinning, pool CPUs, memory) explicit. A
 *   model ORT rejects throws `model_invalid` ("<source>: ONNX Runtime cannot load it: ...").
 * - `seededInputs(model, { seed, shapes, integers })`: deterministic inputs of a model or a
 *   block; `parseShapeOverrides(['x:1,3,224,224'])`, `parsePinnedValues(['rate=16000'])`,
 *   `servedGraph(model, shapes, pins)`: the graph a model is served as.
 * - `withFastLrn(model)`: every `LRN` as a banded 1x1 convolution and element-wise ops, the same
 *   function at a fraction of ORT's kernel's time; compiled, served and run by every policy.
 */
export { discoverLayers, isAnchor, macsOf, HEAVY_OPS, type Layer } from './layers.js';
export { extractBlock, ModelPartition, type BlockBoundary } from './extract.js';
export {
  planBlocks,
  planEvenBlocks,
  planCoarseBlocks,
  parseGranularity,
  type BlockRange,
  type Granularity,
} from './plan.js';
export { inferValueTypes } from './types.js';
export { ortOptimizedLayers } from './optimized.js';
export { specializeBranches, type InputPins, type TakenBranch } from './branches.js';
export { withFastLrn } from './fast-lrn.js';
export {
  openSession,
  sessionOptions,
  ortReason,
  ortVersion,
  DEFAULT_SESSION_CONFIG,
  ORT_DEFAULTS,
  type SessionConfig,
  type SessionSetup,
  type OpenOptions,
  type TensorMap,
} from './session.js';
export {
  seededInputs,
  servedGraph,
  pinnedTensors,
  pinInputShapes,
  parsePinnedValues,
  parseShapeOverrides,
  type PinnedValues,
  type ShapeOverrides,
  type SeededInputOptions,
} from './inputs.js';
