export {
  machineFingerprint,
  machineKey,
  usableCores,
  allowedCpus,
  cacheSizes,
  parseCpuList,
  type SysRoot,
} from './fingerprint.js';
export { VERSION_SPECS, versionSpec, nonSpinningSibling, type VersionSpec } from './versions.js';
export { paretoPrune, type ParetoOptions } from './pareto.js';
export {
  startGenerator,
  calibrateLevels,
  PressureProbe,
  probeBufferBytes,
  type InterferenceGenerator,
} from './interference.js';
export { makeProbe } from './interference-shared.js';
export {
  OrtMeasurer,
  type Measurer,
  type ModelUnderTest,
  type MeasurePlan,
  type BlockSamples,
  type VersionSamples,
  type LayerInfo,
} from './measure.js';
export {
  settingsFor,
  coreCountsFor,
  sensitivityCoresFor,
  generatorThreadsFor,
  type CompileSettings,
} from './settings.js';
export {
  compileModel,
  modelNameFor,
  versionProfiles,
  type CompileOptions,
  type CompileResult,
  type CompileProgress,
  type CompilePhase,
} from './compiler.js';
export {
  MEASURING_PROTOCOL,
  profilePathFor,
  partialPathFor,
  staleReason,
  protocolChange,
  samePins,
  type CompileMode,
  type ProfileKey,
} from './store.js';
export { findModels, readProfileFor } from './repository.js';
export { summarize, formatSummary, type ProfileSummary, type TradeoffLayer } from './summary.js';
export { ForeignLoadMeter, raiseMeasurementPriority, parseBusyMs } from './load.js';
export {
  STAGES,
  assembleProfile,
  heldOutError,
  stageEffects,
  eliminateStages,
  errorScore,
  MIN_STAGE_GAIN,
  type EliminationRound,
  type CorrectionStage,
  type HeldOutError,
  type StageEffect,
} from './assemble.js';
export { RAW_SCHEMA, rawPathFor, readRawCompile, type RawCompile } from './raw.js';
