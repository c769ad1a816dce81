/**
 * Messages between the live engine and its block workers (one worker thread per CPU).
 */
import type { SessionSetup } from '../partition/index.js';
import type { YieldedPriority } from './affinity.js';
import type { WireTensors } from './wire.js';

/** A session a worker should hold, under `key`. */
export interface SessionSpec {
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly config: SessionSetup;
  /** Inputs of one untimed run right after opening: ORT's first run of a session is slow. */
  readonly warmup: WireTensors;
  /** For error messages: the model and block it runs. */
  readonly source: string;
}

/** One session run inside a chain. */
export interface ChainStep {
  readonly session: string;
  /** Values the session is fed, by name. */
  readonly inputs: readonly string[];
  /** Values no later step reads and the chain does not return: freed once this step ran. */
  readonly release: readonly string[];
}

export type ToWorker =
  | { readonly kind: 'open'; readonly id: number; readonly sessions: readonly SessionSpec[] }
  | {
      readonly kind: 'run';
      readonly id: number;
      readonly steps: readonly ChainStep[];
      readonly feeds: WireTensors;
      /** Values to send back: produced in the chain or fed to it, read after it. */
      readonly returns: readonly string[];
    }
  | { readonly kind: 'close'; readonly id: number; readonly prefix: string }
  | { readonly kind: 'exit' };

export type FromWorker =
  | {
      readonly kind: 'ready';
      /** The CPUs the worker's thread may run on after pinning ([] when unknown). */
      readonly allowedCpus: readonly number[];
      /** Where the worker's thread stands toward the engine's, with `yieldToEngine`. */
      readonly priority: YieldedPriority;
    }
  | { readonly kind: 'opened'; readonly id: number; readonly sessions: number }
  | {
      readonly kind: 'done';
      readonly id: number;
      readonly outputs: WireTensors;
      /** When the first session run began and the last ended (ms since the Unix epoch). */
      readonly startEpochMs: number;
      readonly endEpochMs: number;
      /** How long each step's session run took (us). */
      readonly stepUs: readonly number[];
      /** The CPU the thread was on when it ended (with `reportCpu`). */
      readonly cpu?: number;
    }
  | { readonly kind: 'closed'; readonly id: number; readonly sessions: number }
  | { readonly kind: 'error'; readonly id: number; readonly error: string };

/** What a worker is started with. */
export interface WorkerSetup {
  /** The CPU to pin the worker's thread to (none: the OS places it). */
  readonly cpu?: number;
  /** Report the CPU each run ended on (costs a /proc read per run; for tests). */
  readonly reportCpu: boolean;
  /** Put the worker's thread and the ORT threads it starts below the engine's (`yieldThisThread`). */
  readonly yieldToEngine?: boolean;
}
