import type * as ort from 'onnxruntime-node';
import { encodeModel, freeTensorMemory, type ModelProto } from '../onnx/index.js';
import {
  ModelPartition,
  inferValueTypes,
  ortOptimizedLayers,
  type BlockRange,
  type Layer,
} from '../partition/index.js';
import { openSession, ortReason, type SessionConfig, type TensorMap } from '../partition/index.js';
import { VeltairError } from '../errors/index.js';

export interface ExecutorOptions {
  /**
   * When every block runs at optimization `all`, cut ORT's own optimized graph instead of the
   * original, so that block boundaries add no layout conversions (default true; falls back to
   * the original graph when ORT's fusions cross layers).
   */
  preoptimize?: boolean;
  /**
   * The partition to cut, from `executionPartition` for these configs. Executors of one model
   * share it instead of each asking ORT for its optimized graph again (11 s for VGG-19).
   */
  partition?: ExecutionPartition;
}

/** What `executionPartition` gives: the graph blocks are cut from, and whether ORT optimized it. */
export interface ExecutionPartition {
  readonly cut: ModelPartition;
  readonly preoptimized: boolean;
}

/** One block of an executor: its range, its own session and what it exchanges. */
export interface ExecutorBlock {
  readonly range: BlockRange;
  readonly config: SessionConfig;
  readonly session: ort.InferenceSession;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Values no block after this one and no final output needs: dropped once it has run. */
  readonly releaseAfter: readonly string[];
}

/**
 * Runs a model as a sequence of blocks, each on its own ORT session with its own config.
 * Intermediate values pass from block to block as the ORT tensors the previous run returned
 * (no copy in JavaScript); a value is kept only while a later block or the final outputs need it.
 */
export class BlockExecutor {
  private constructor(
    readonly blocks: readonly ExecutorBlock[],
    /** Inputs the caller feeds (graph inputs that are not initializers). */
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** Graph inputs with an initializer as default: feeding them is optional. */
    private readonly defaulted: ReadonlySet<string>,
    /** Whether the blocks were cut from ORT's optimized graph (see partition/optimized.ts). */
    readonly preoptimized: boolean,
  ) {
    this.finals = new Set(outputNames);
    this.read = new Set(blocks.flatMap((b) => b.inputs));
  }

  private readonly finals: ReadonlySet<string>;
  /** Values some block reads (the others are dropped as soon as they are written). */
  private readonly read: ReadonlySet<string>;

  /**
   * Cuts `model` into `ranges` (which must tile [0, layers.length) in order) and opens one
   * session per block; `config` is one for all blocks or one per block. Types of intermediate
   * values are inferred first where the model does not declare them.
   */
  static async create(
    model: ModelProto,
    layers: readonly Layer[],
    ranges: readonly BlockRange[],
    config: SessionConfig | readonly SessionConfig[],
    source = '<model>',
    options: ExecutorOptions = {},
  ): Promise<BlockExecutor> {
    checkTiling(ranges, layers.length);
    const configs = Array.isArray(config)
      ? (config as readonly SessionConfig[])
      : ranges.map(() => config as SessionConfig);
    if (configs.length !== ranges.length) {
      throw new RangeError(`${configs.length} session configs for ${ranges.length} blocks`);
    }
    const { cut, preoptimized } =
      options.partition ?? (await executionPartition(model, layers, configs, source, options));
    if (preoptimized && configs.some((c) => c.optimization !== 'all')) {
      throw new RangeError(
        `${source}: a partition cut from ORT's optimized graph serves only blocks at optimization all`,
      );
    }
    const outputNames = cut.model.graph?.output.map((o) => o.name) ?? [];
    const boundaries = ranges.map((r) => cut.boundary(r));
    const lastUse = new Map<string, number>();
    boundaries.forEach((b, k) => b.inputs.forEach((name) => lastUse.set(name, k)));
    const finals = new Set(outputNames);
    const blocks: ExecutorBlock[] = [];
    try {
      for (const [k, range] of ranges.entries()) {
        const bytes = encodeModel(cut.extract(range));
        const session = await openSession(bytes, configs[k], `${source} block [${range[0]}, ${range[1]})`);
        const releaseAfter = [...lastUse]
          .filter(([name, last]) => last === k && !finals.has(name))
          .map(([n]) => n);
        blocks.push({ range, config: configs[k], session, ...boundaries[k], releaseAfter });
      }
    } catch (err) {
      await Promise.all(blocks.map((b) => b.session.release()));
      throw err;
    }
    const defaulted = new Set(cut.index.initializers.keys());
    const inputs = cut.index.feedInputs.map((v) => v.name);
    return new BlockExecutor(blocks, inputs, outputNames, defaulted, preoptimized);
  }

  /**
   * Runs every block in order on `feeds`; returns the model's outputs. Each value is dropped
   * as soon as its last reader has run, and its memory freed (`freeTensorMemory`; never the
   * caller's feeds nor returned outputs). Outputs go to fresh tensors: onnxruntime-node copies
   * every result into a new ArrayBuffer even when the caller preallocates one, so a buffer
   * pool saved nothing when measured (see bench/README.md).
   */
  async run(feeds: Readonly<TensorMap>): Promise<TensorMap> {
    const live = new Map<string, ort.Tensor>(Object.entries(feeds));
    for (const block of this.blocks) {
      const blockFeeds: TensorMap = {};
      for (const name of block.inputs) {
        const value = live.get(name);
        if (value !== undefined) blockFeeds[name] = value;
        else if (!this.defaulted.has(name)) {
          throw new Error(`block [${block.range[0]}, ${block.range[1]}) needs '${name}', which was not fed`);
        }
      }
      let results: ort.InferenceSession.OnnxValueMapType;
      try {
        results = await block.session.run(blockFeeds);
      } catch (err) {
        throw new VeltairError(
          'runtime_error',
          `block [${block.range[0]}, ${block.range[1]}) failed: ${ortReason(err)}`,
        );
      }
      for (const name of block.outputs) {
        if (this.read.has(name) || this.finals.has(name)) live.set(name, results[name] as ort.Tensor);
      }
      for (const name of block.releaseAfter) {
        const value = live.get(name);
        live.delete(name);
        if (value && !Object.hasOwn(feeds, name)) freeTensorMemory(value);
      }
    }
    const outputs: TensorMap = {};
    for (const name of this.outputNames) {
      const value = live.get(name);
      if (value === undefined) throw new Error(`output '${name}' was not produced`);
      outputs[name] = value;
    }
    return outputs;
  }

  async release(): Promise<void> {
    await Promise.all(this.blocks.map((b) => b.session.release()));
  }
}

/**
 * The partition `BlockExecutor.create` cuts blocks from: ORT's optimized graph when every block
 * runs at `all` (unless `preoptimize` is off and where ORT's fusions allow), else the original
 * graph. Plans that weigh boundaries (`ModelPartition.cutBytes`) must weigh them on this one:
 * the two graphs hand over different values at the same layer boundary.
 */
export async function executionPartition(
  model: ModelProto,
  layers: readonly Layer[],
  configs: readonly SessionConfig[],
  source = '<model>',
  options: ExecutorOptions = {},
): Promise<ExecutionPartition> {
  const typed = await inferValueTypes(model, source);
  if (options.preoptimize !== false && configs.every((c) => c.optimization === 'all')) {
    const optimized = await ortOptimizedLayers(typed, layers);
    if (optimized) {
      const cut = new ModelPartition(await inferValueTypes(optimized.model, source), optimized.layers);
      return { cut, preoptimized: true };
    }
  }
  return { cut: new ModelPartition(typed, layers), preoptimized: false };
}

function checkTiling(ranges: readonly BlockRange[], layerCount: number): void {
  let next = 0;
  for (const [from, to] of ranges) {
    if (from !== next || to <= from) break;
    next = to;
  }
  if (next !== layerCount || ranges.length === 0 || ranges[ranges.length - 1][1] !== layerCount) {
    const shown = ranges.map(([a, b]) => `[${a}, ${b})`).join(' ');
    throw new RangeError(`blocks ${shown} do not cover layers [0, ${layerCount}) in order`);
  }
}

/**
 * Opens the whole model as one session (the reference a block plan is checked against), with
 * ORT's arena and memory pattern, as a model run whole is best served.
 */
export async function openModelSession(
  model: ModelProto,
  config: SessionConfig,
  source = '<model>',
): Promise<ort.InferenceSession> {
  return openSession(encodeModel(model), { ...config, memory: 'arena' }, source);
}
