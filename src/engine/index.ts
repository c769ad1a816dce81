/**
 * The engine core shared by the simulator and the live runtime: CPU ledger, queues, windows,
 * interference monitor, the one call of the policy and the validation of its decisions. Only
 * the `Clock` and the `Executor` differ between the two.
 */
export {
  EngineCore,
  leastCoreTimeUs,
  leastServiceMs,
  type BlockStart,
  type Executor,
  type EngineCoreOptions,
  type EngineStats,
  type EndReason,
  type ModelCounts,
  type QueryEnd,
  type Tenants,
} from './core.js';
export { VirtualClock, WallClock, type Clock } from './clock.js';
export { CoreLedger, checkLedgerTrace, type LedgerEvent } from './ledger.js';
export { InterferenceMonitor, blockShape, expectedUs, type BlockShape } from './monitor.js';
export { latencyStats, type LatencySummary } from './stats.js';
