export {
  WORKLOADS,
  WORKLOAD_NAMES,
  MLPERF_QOS_MS,
  QOS_MULTIPLE,
  parseWorkloads,
  resolveMix,
  qosTargets,
  type Workload,
  type WorkloadName,
  type QosTarget,
} from './workloads.js';
export { poissonArrivals } from './arrivals.js';
export { findPeak, findPeakAsync, type PeakOptions, type PeakPoint, type PeakResult } from './peak.js';
export {
  SATISFACTION_TARGET,
  runPoint,
  peakOf,
  gridPoints,
  physicalLimitQps,
  policyContext,
  type Scenario,
} from './evaluate.js';
export {
  evaluatePolicy,
  assembleReport,
  referenceOf,
  runAtReference,
  formatComparison,
  formatAtPeak,
  satisfactionCurve,
  PLOT_FLOOR,
  summarise,
  table,
  round,
  type CurvePoint,
  type PolicyEvaluation,
  type DecisionSummary,
  type PolicyRow,
  type PointSummary,
  type RunSummary,
  type WorkloadReport,
} from './compare.js';
export { satisfactionPlotSvg } from './plot.js';
export { prepareScenarios, type ScenarioOptions, type PreparedScenario } from './setup.js';
export { runComparison, runTask, defaultJobs, type ComparisonJob, type ComparisonTask } from './parallel.js';
export {
  runLive,
  referenceCases,
  type LiveScenario,
  type LiveRunResult,
  type LiveModelStats,
  type ReferenceCase,
} from './live.js';
export {
  benchLive,
  formatLiveBench,
  capacityQps,
  NAIVE,
  type LiveBenchOptions,
  type LiveBenchReport,
  type LivePolicyRow,
  type EngineCost,
} from './live-bench.js';
export {
  DATATYPES,
  ERROR_CODE_KEY,
  SHARED_MEMORY_ROOT,
  datatypeOf,
  ortTypeOf,
  loadInferenceService,
  type Datatype,
} from './oip.js';
export { RemoteService, TRANSPORTS, type Transport } from './remote.js';
export {
  benchRemote,
  formatRemoteBench,
  type RemoteBenchReport,
  type RemoteBenchOptions,
} from './remote-bench.js';
export {
  searchLivePeaks,
  confirmation,
  CONFIRM_STEP,
  MAX_STOLEN_SHARE,
  type PeakConfirmation,
} from './live-bench.js';
export {
  PROTOCOL_TEST,
  verdictAt,
  boundsAt,
  type SequentialTest,
  type Verdict,
  type ModelTally,
  type ModelBounds,
} from './sequential.js';
export {
  PROTOCOL,
  PEAK_RESOLUTION,
  deviationsFrom,
  runRate,
  protocolPeak,
  idealPeak,
  type IdealPeak,
  type IdealReference,
  tuneOnProtocol,
  type RateRun,
  type ProtocolPeak,
  type ProtocolTuning,
  type ProtocolSettings,
} from './protocol.js';
export {
  TUNING_BUDGET_MS,
  TUNING_QUERIES,
  TUNING_SEEDS,
  liveMachine,
  liveScenario,
  tuneForLive,
  tuneInWorker,
  type LiveMachine,
  type LiveMix,
  type LiveTuningJob,
  type TuningRun,
} from './tuning.js';
