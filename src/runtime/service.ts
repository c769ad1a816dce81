/**
 * What the load generator and the server drive: something that takes queries and answers each
 * one. The live engine is one (any policy); the `naive` baseline, which has no engine, another.
 */
import type * as ort from 'onnxruntime-node';
import type { EndReason, WallClock } from '../engine/index.js';
import type { ModelInput } from './served.js';

/** How one query ended. */
export type InferOutcome = (
  | {
      readonly status: 'ok';
      readonly outputs: Record<string, ort.Tensor>;
      readonly latencyMs: number;
      /** From arrival until its first block started (when the service knows it). */
      readonly queueMs?: number;
      readonly satisfied: boolean;
    }
  | { readonly status: 'rejected'; readonly reason: EndReason; readonly latencyMs: number }
  | { readonly status: 'failed'; readonly error: string; readonly latencyMs: number }
) & {
  /**
   * How long after its deadline the block the query was running at that moment ended: lateness
   * no scheduler could avoid, a block being unstoppable (0: none was running; absent: the
   * service does not run queries as blocks).
   */
  readonly blockOverrunMs?: number;
  /** The longest of the query's blocks, dispatch to end (absent: the service has no blocks). */
  readonly longestBlockMs?: number;
};

/** When a query was due and by when it must be answered, on the service's clock (ms). */
export interface QueryTiming {
  /** When the query was due: latency counts from it (default: now). */
  readonly arrivalMs?: number;
  /** A deadline tighter than the model's QoS target (a request's own timeout). */
  readonly deadlineMs?: number;
}

export interface InferenceService {
  /** Time of the service, in ms; queries' arrival times are on it. */
  readonly clock: WallClock;
  /**
   * Whether `infer` takes the feeds' buffers over (moves them to worker threads): a caller that
   * feeds the same tensors again gives such a service copies. A remote one only reads them.
   */
  readonly takesFeeds: boolean;
  /** The inputs a query of `model` must feed. */
  inputsOf(model: string): readonly ModelInput[];
  /**
   * Submits one query. `feeds` are taken over where `takesFeeds` says so; latency and deadline
   * count from `timing.arrivalMs`.
   */
  infer(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timing?: QueryTiming,
  ): Promise<InferOutcome>;
  /** Rejects every query not started yet (reason `aborted`); started ones finish. */
  abortWaiting(): void;
  /** Resolves once no query is in the service. */
  idle(): Promise<void>;
  /** Stops taking queries once those inside are done. */
  close(): Promise<void>;
}
