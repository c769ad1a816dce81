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
  PolicyRole,
} from './types.js';
export {
  POLICIES,
  BASELINES,
  ABLATIONS,
  policySpec,
  policyNames,
  formatParams,
  parseParams,
} from './registry.js';
export { validateDecisions, type DecisionRule } from './validate.js';
