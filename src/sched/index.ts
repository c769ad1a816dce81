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
export { POLICIES, BASELINES, ABLATIONS, policySpec, policyNames, UnknownPolicyError } from './registry.js';
export { validateDecisions, PolicyViolation, type DecisionRule } from './validate.js';
