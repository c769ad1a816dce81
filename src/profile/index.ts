/**
 * Profiles: the format the compiler writes and everything else reads, and the pure functions
 * on it the scheduler, the engines and the simulator share (prediction, level inversion,
 * pressure, statistics). No I/O, no timers, no ONNX Runtime: `compile` measures and writes
 * profiles, `sched` and `sim` read them through this folder alone.
 */
export {
  PROFILE_SCHEMA,
  measuredVersions,
  type MachineFingerprint,
  type VersionProfile,
  type LayerProfile,
  type BlockProfile,
  type ModelProfileData,
  type Prediction,
  type RunCost,
  type TensorEdge,
  type CompileInfo,
  type QualityReport,
  type QualitySample,
  type ErrorStats,
} from './format.js';
export {
  ProfilePredictor,
  soloAt,
  slowdownAt,
  blockIoBytes,
  skipSavedBytes,
  isolatedLatencyMs,
} from './predictor.js';
export { levelAtSlowdown } from './level.js';
export { blockPressure, type PressureWeights } from './pressure.js';
export { BlockMemo } from './memo.js';
export { nearestRank, lowerMedian, quantile, median, upperMedian } from './stats.js';
