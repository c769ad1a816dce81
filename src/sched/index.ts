export type {
  Query,
  Running,
  EngineView,
  Decision,
  RejectReason,
  Policy,
  PolicyContext,
  PolicyParams,
  PolicySpec,
} from './types.js';
