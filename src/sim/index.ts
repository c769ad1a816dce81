export { leastCoreTimeUs } from '../engine/index.js';
export {
  simulate,
  DEFAULT_NOISE,
  DEFAULT_DISPATCH_OVERHEAD_US,
  type Arrival,
  type NoiseModel,
  type SimOptions,
  type SimResult,
  type ModelStats,
} from './engine.js';
export {
  loadProfileSource,
  calibrationProfiles,
  readProfileFile,
  readRepositoryProfiles,
  versionRulesFromLocal,
  DEFAULT_VERSION_RULES,
  DERIVED_LEVELS,
  FITTED_MODELS,
  MEASURED_MODELS,
  type ProfileSource,
  type VersionRule,
} from './sources.js';
export { readCalibration, CALIBRATION_NAME, CALIBRATION_CORES, type MeasuredLayer } from './calibration.js';
export {
  fitScalingModel,
  predictLayerUs,
  heldOutErrors,
  type ScalingModel,
  type FitError,
} from './scaling.js';
export { Rng, streamSeed } from './rng.js';
export {
  FLUID_DIVISIONS,
  fluidEdf,
  type FluidDivision,
  type FluidOptions,
  type FluidResult,
  type FluidModelStats,
} from './fluid.js';
export {
  HiddenMachine,
  hiddenMachine,
  TRUTH_SETTINGS,
  MEASURED_LATENCY_ERROR,
  DEMAND_GBPS_PER_LEVEL,
  type TruthSetting,
  type HiddenBlock,
  type LatencyErrorModel,
} from './truth.js';
export {
  memorySlowdowns,
  memoryStretch,
  THREADRIPPER_3990X_MEMORY,
  type MemoryLoad,
  type MemorySystem,
} from './memory.js';
