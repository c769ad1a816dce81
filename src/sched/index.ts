export type { Query, Running, EngineView, Decision, RejectReason, Policy } from './types.js';
