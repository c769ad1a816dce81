import { modelFileError, type ModelProto } from '../onnx/index.js';
import {
  discoverLayers,
  inferValueTypes,
  planBlocks,
  specializeBranches,
  withFastLrn,
  type Granularity,
  type Layer,
  type TakenBranch,
} from '../partition/index.js';
import { compareOutputs, DEFAULT_TOLERANCE, type OutputDiff, type Tolerance } from './compare.js';
import { BlockExecutor, openModelSession } from './executor.js';
import { type TensorMap } from '../partition/index.js';
import { pinnedTensors, seededInputs, type PinnedValues, type ShapeOverrides } from '../partition/index.js';
import type { SessionConfig } from '../partition/index.js';

export interface VerifyOptions {
  granularity?: Granularity;
  config?: SessionConfig;
  shapes?: ShapeOverrides;
  /** Inputs fixed to these values: the `If`s they decide are cut as the branch they take. */
  pins?: PinnedValues;
  seed?: number;
  tolerance?: Tolerance;
}

/** One block plan checked against the whole model. */
export interface CutCheck {
  /** `original`: blocks cut from the model as given; `ort-optimized`: from ORT's optimized graph. */
  cut: 'original' | 'ort-optimized';
  maxAbsDiff: number;
  maxRelDiff: number;
  ok: boolean;
  outputs: OutputDiff[];
}

/** What `veltair verify` reports: block by block against whole, on the same seeded inputs. */
export interface VerifyReport {
  model: string;
  layers: number;
  blocks: number;
  granularity: Granularity;
  /** The `If`s the pins decided: blocks run the branch each takes, the whole model the `If`. */
  specialized: TakenBranch[];
  /** Worst over `checks`. */
  maxAbsDiff: number;
  maxRelDiff: number;
  ok: boolean;
  tolerance: Tolerance;
  checks: CutCheck[];
}

/**
 * Runs `model` whole and as blocks of the given granularity on the same seeded inputs, with the
 * same session config, and compares every output. The blocks are cut from the graph as served
 * (`If`s the pins decide specialised, `LRN`s in their fast form), the whole model runs as
 * given: a match proves the rewrites and the cut together. Both ways the executor cuts blocks are
 * checked: from the original graph, and (at optimization `all`, where the executor uses it)
 * from ORT's optimized graph. Problems with the model itself (ORT cannot load or run it, a
 * cycle) throw a `model_invalid` error naming `source`.
 */
export async function verifyModel(
  model: ModelProto,
  source: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const config = options.config ?? { threads: 1, optimization: 'all', spinning: false };
  const granularity = options.granularity ?? 'layer';
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const pins = pinnedTensors(model, options.pins ?? new Map());
  const specialized = await specializeBranches(model, pins);
  const typed = await inferValueTypes(await withFastLrn(specialized.model, source), source);
  const layers = layersOf(typed, source);
  const feeds = {
    ...seededInputs(typed, { seed: options.seed ?? 1, shapes: options.shapes }),
    ...Object.fromEntries(pins),
  };
  const expected = await runWhole(model, config, feeds, source);
  const ranges = planBlocks(layers, granularity);
  const checks: CutCheck[] = [];
  for (const preoptimize of config.optimization === 'all' ? [false, true] : [false]) {
    const executor = await BlockExecutor.create(typed, layers, ranges, config, source, { preoptimize });
    if (preoptimize && !executor.preoptimized) {
      await executor.release(); // ORT's fusions cross layers here: the executor cuts the original
      continue;
    }
    let actual: TensorMap;
    try {
      actual = await executor.run(feeds);
    } finally {
      await executor.release();
    }
    const cmp = compareOutputs(expected, actual, tolerance);
    checks.push({ cut: preoptimize ? 'ort-optimized' : 'original', ...cmp });
  }
  return {
    model: source,
    layers: layers.length,
    blocks: ranges.length,
    granularity,
    specialized: specialized.taken,
    maxAbsDiff: Math.max(...checks.map((c) => c.maxAbsDiff)),
    maxRelDiff: Math.max(...checks.map((c) => c.maxRelDiff)),
    ok: checks.every((c) => c.ok),
    tolerance,
    checks,
  };
}
function layersOf(model: ModelProto, source: string): Layer[] {
  try {
    return discoverLayers(model);
  } catch (err) {
    throw modelFileError(source, (err as Error).message);
  }
}

async function runWhole(
  model: ModelProto,
  config: SessionConfig,
  feeds: TensorMap,
  source: string,
): Promise<TensorMap> {
  const session = await openModelSession(model, config, source);
  try {
    return (await session.run(feeds)) as TensorMap;
  } catch (err) {
    throw modelFileError(source, `ONNX Runtime cannot run it: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await session.release();
  }
}
