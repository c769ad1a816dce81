/**
 * The policy interface: the contract between policies, the simulator and the live runtime.
 * An engine owns time, cores and execution; a policy reads one frozen view and decides.
 * All times are in milliseconds on the engine's clock.
 */
import type { ProfilePredictor } from '../profile/index.js';

export interface Query {
  readonly id: string;
  readonly model: string;
  readonly arrivalMs: number;
  /** Absolute time by which the query must finish to meet its QoS target. */
  readonly deadlineMs: number;
  /** First layer not yet started; the next block must start here. */
  readonly nextLayer: number;
  /** Cores and version of the block this query ran last, if any (model-wise policies keep them). */
  readonly lastCores?: number;
  readonly lastVersion?: string;
}

export interface Running {
  readonly query: string;
  readonly model: string;
  readonly block: readonly [number, number];
  readonly cores: number;
  readonly version: string;
  readonly startMs: number;
  /** When the engine expects it to end (from the profile; the real end may differ). */
  readonly expectedEndMs: number;
}

export interface EngineView {
  readonly nowMs: number;
  readonly totalCores: number;
  readonly freeCores: number;
  /** Queries whose next block has not started, in arrival order. */
  readonly waiting: readonly Query[];
  readonly running: readonly Running[];
  /** Current interference estimate in the profiles' level unit; 0 = none. */
  readonly interference: number;
  /**
   * Fraction of recent dispatch attempts that could not get the cores they wanted (0..1).
   * An attempt is a query becoming ready (arrival, or end of its previous block); it is a
   * conflict when its next block does not start at that instant, or starts with fewer cores
   * than the dispatch's `wantedCores`. Engines average over the last 64 attempts.
   */
  readonly recentConflictRate: number;
  /** Offered load relative to capacity over the recent window (0 = idle, 1 = saturated). */
  readonly recentLoad: number;
  profile(model: string): ProfilePredictor;
}

/**
 * What a policy may ask of the engine.
 * - `dispatch`: start layers [block[0], block[1]) of the query now on `cores` cores with
 *   `version`; the query leaves `waiting` until the block ends.
 * - `reject`: drop the query; it counts as a QoS miss (the live server answers 429 / 503).
 */
export type Decision =
  | {
      readonly kind: 'dispatch';
      readonly query: string;
      readonly block: readonly [number, number];
      readonly cores: number;
      readonly version: string;
      /**
       * Cores the policy would have used had they been free, when more than `cores`. The
       * engine counts such a dispatch as a scheduling conflict (see EngineView.recentConflictRate).
       */
      readonly wantedCores?: number;
    }
  | { readonly kind: 'reject'; readonly query: string; readonly reason: RejectReason };

/**
 * - `deadline_unreachable`: even on every free core the query cannot finish in time.
 *
 * Bounded queues are the server's, not a policy's: it turns a query away before any engine
 * sees it (`EndReason`'s `queue_full`).
 */
export type RejectReason = 'deadline_unreachable';

export interface Policy {
  readonly name: string;
  /** Pure: the same view gives the same decisions; no timers, no I/O, no state between calls. */
  decide(view: EngineView): Decision[];
}

/** What a policy may know when it is created: the machine and the workload it will serve. */
export interface PolicyContext {
  readonly totalCores: number;
  /** Models served, with their share of arriving queries (sums to 1). */
  readonly modelWeights: Readonly<Record<string, number>>;
  /** QoS target per model, in ms. */
  readonly qosTargetMs: Readonly<Record<string, number>>;
  profile(model: string): ProfilePredictor;
}

export type PolicyRole = 'proposed' | 'baseline' | 'ablation';

export type PolicyParams = Readonly<Record<string, number>>;

/**
 * A registered policy: a factory plus the grid of its own parameters. Evaluations tune every
 * policy, baselines included, by the same search over its grid, so no win comes from a weak
 * baseline setting.
 */
export interface PolicySpec {
  readonly name: string;
  /** One line: what it does and which system it stands for. */
  readonly summary: string;
  /**
   * What the policy is in a comparison: `proposed` (veltair), `baseline` (a prior system it is
   * compared against) or `ablation` (veltair with one mechanism taken out).
   */
  readonly role: PolicyRole;
  readonly paramGrid: Readonly<Record<string, readonly number[]>>;
  /** Default parameters (used where no tuning is run, e.g. the live server). */
  readonly defaults: PolicyParams;
  create(params: PolicyParams, ctx: PolicyContext): Policy;
}
