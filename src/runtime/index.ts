/**
 * The live runtime: the block executor, the pinned worker pool, and the live engine that runs
 * the engine core on them (`LiveRuntime`, docs/live.md). Sessions (`openSession`,
 * `SessionConfig`) and a model's inputs (`seededInputs`, shapes and pins) come from
 * src/partition.
 *
 * - `BlockExecutor.create(model, layers, ranges, config | configs, source, { preoptimize })`
 *   opens one session per block; `run(feeds)` hands ORT tensors from block to block and
 *   returns the outputs. When every block runs at
 *   optimization `all`, blocks are cut from ORT's own optimized graph (NCHWc layout, fusions
 *   done once), so boundaries add no layout conversions; `executor.preoptimized` says whether
 *   that happened (it falls back to the original graph when ORT's fusions cross layers).
 *   Blocks of the two cuts do not interoperate: the optimized cut's boundary tensors are in
 *   ORT's NCHWc layout. A plan mixing optimization levels therefore cuts the original graph.
 *   `executionPartition(model, layers, configs)` is the partition it will cut: plans weigh
 *   boundaries (`cutBytes`) on it.
 * - `verifyModel(model, source, { granularity, config, shapes, seed })`: `veltair verify`.
 * - `measureOverhead(models, { runs, warmupRuns, threads, coarseBlocks })`: `bench-overhead`.
 * - `compareOutputs(expected, actual)`: max abs / rel diff against DEFAULT_TOLERANCE.
 * - `ranOverPlanned(blocks, predictors)`: what an engine's blocks took over their plan, by CPU
 *   count; `LiveRuntime.operatingCostOf` / `useOperatingCost` plan with it (decision 0017).
 */
export {
  BlockExecutor,
  executionPartition,
  openModelSession,
  type ExecutionPartition,
  type ExecutorBlock,
  type ExecutorOptions,
} from './executor.js';
export {
  compareOutputs,
  DEFAULT_TOLERANCE,
  type Comparison,
  type OutputDiff,
  type Tolerance,
} from './compare.js';
export { verifyModel, type CutCheck, type VerifyOptions, type VerifyReport } from './verify.js';
export {
  measureOverhead,
  type OverheadOptions,
  type OverheadReport,
  type OverheadRow,
  type OverheadVariant,
} from './overhead.js';
export {
  LiveRuntime,
  LiveEngine,
  LIVE_DISPATCH_OVERHEAD_US,
  RECENT_BLOCKS,
  type LiveModelSpec,
  type LiveRuntimeOptions,
  type LiveEngineOptions,
  type RuntimeReport,
  type BlockRecord,
  type LiveStats,
} from './live.js';
export { ServedModel, type Chain, type ModelInput } from './served.js';
export { planSegments, segmentProfile, DEFAULT_SEGMENT_OPTIONS, type SegmentOptions } from './segments.js';
export {
  processCpus,
  pinThisThread,
  threadAllowedCpus,
  currentCpu,
  threadCpuMs,
  yieldThisThread,
} from './affinity.js';
export { WorkerPool, type ChainResult } from './pool.js';
export { cpuTicks, parseCpuTicks, stolenShare, TICKS_PER_SECOND, type CpuTicks } from './steal.js';
export { cpuWindows } from './windows.js';
export {
  costMoved,
  describeScale,
  operatingCost,
  operatingReport,
  ranOverPlanned,
  updatedCost,
  REPLAN_TOLERANCE,
  type OperatingCost,
  type OperatingReport,
} from './operating.js';
export {
  measureUnits,
  DEFAULT_MEASURE_OPTIONS,
  type MeasureOptions,
  type UnitMeasurement,
} from './calibrate.js';
export { type InferenceService, type InferOutcome, type QueryTiming } from './service.js';
export { NaiveService, type NaiveOptions } from './naive.js';
export { estimatedProfile, unprofiledModelSpec } from './unprofiled.js';
