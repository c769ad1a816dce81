/**
 * ONNX Runtime sessions: the one place veltair creates them, so that every session, whether it
 * measures, serves or only reads a model's types, runs with the knobs veltair set and none of
 * ORT's defaults it did not choose. Partition sits low enough for every folder that opens one.
 */
import * as ort from 'onnxruntime-node';
import { modelFileError } from '../onnx/index.js';

/** A name -> tensor map, as ORT takes feeds and returns results. */
export type TensorMap = Record<string, ort.Tensor>;

/** One ORT configuration: the resources and kernels a block runs with (a "version"). */
export interface SessionConfig {
  /** intraOpNumThreads: the cores the block's kernels use (>= 1; never ORT's "all cores" 0). */
  readonly threads: number;
  /** ORT graph optimization level; `all` adds the NCHWc layout, `extended` keeps plain NCHW. */
  readonly optimization: 'all' | 'extended' | 'basic' | 'disabled';
  /** Whether idle intra-op threads spin (lower latency, but burns cores co-runners need). */
  readonly spinning: boolean;
  /**
   * Logical CPUs (numbered as taskset and /proc number them) for ORT's pool threads, one per
   * thread beyond the caller's (`threads - 1` entries); the caller pins its own thread. Unset,
   * the OS places them, and on a VM it now and then wakes the pool thread on the caller's busy
   * CPU instead of the idle one: then 2 threads run no faster than 1 (decision 0007).
   */
  readonly poolCpus?: readonly number[];
  /**
   * Where the session keeps intermediate values. `heap` (the default): the process's malloc
   * heap, which every session shares, so a block run after another reuses memory the other has
   * just freed, still in cache (decision 0005 keeps freed memory in the heap). `arena`: ORT's
   * own arena per session, with a memory pattern planned from the first run: best for a model
   * run whole in one session, but each of a model's block sessions then starts on memory of
   * its own, cold. ResNet-50 on 1 thread, 8 blocks: 1.031-1.043x the whole model's median with
   * `heap` against 1.039-1.060x with `arena` (bench/README.md).
   */
  readonly memory?: 'heap' | 'arena';
}

export const DEFAULT_SESSION_CONFIG: SessionConfig = { threads: 1, optimization: 'all', spinning: false };

/**
 * ONNX Runtime's own defaults: intra-op threads = every core, idle threads spinning, the whole
 * graph optimized, ORT's arena. What a deployment that sets nothing runs: the `naive` baseline,
 * and nothing else in veltair.
 */
export const ORT_DEFAULTS = 'ort-defaults';

/** A session's configuration: one of veltair's versions, or ORT's untouched defaults. */
export type SessionSetup = SessionConfig | typeof ORT_DEFAULTS;

/** ORT options for a config: every knob that matters set explicitly, never ORT's defaults. */
export function sessionOptions(config: SessionConfig): ort.InferenceSession.SessionOptions {
  if (!Number.isInteger(config.threads) || config.threads < 1) {
    throw new RangeError(`threads must be a positive integer, got ${config.threads}`);
  }
  return {
    intraOpNumThreads: config.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: config.optimization,
    enableCpuMemArena: config.memory === 'arena',
    enableMemPattern: config.memory === 'arena',
    // Warnings (old opsets, optimizer notes) would flood stderr, one per block session.
    logSeverityLevel: 3,
    extra: {
      session: {
        intra_op: { allow_spinning: config.spinning ? '1' : '0' },
        ...poolAffinities(config),
      },
    },
  };
}

/** ORT's affinity entry: one CPU per pool thread, `;`-separated, processors counted from 1. */
function poolAffinities(config: SessionConfig): { intra_op_thread_affinities?: string } {
  const cpus = config.poolCpus;
  if (cpus === undefined) return {};
  if (cpus.length !== config.threads - 1 || !cpus.every((c) => Number.isInteger(c) && c >= 0)) {
    throw new RangeError(
      `poolCpus must list ${config.threads - 1} CPU numbers for ${config.threads} threads, got [${cpus.join(', ')}]`,
    );
  }
  return cpus.length === 0 ? {} : { intra_op_thread_affinities: cpus.map((c) => String(c + 1)).join(';') };
}

/** What a session is opened for besides running. */
export interface OpenOptions {
  /** Where ORT writes the graph it runs, after its optimizations (`ortOptimizedLayers` cuts it). */
  readonly saveOptimizedTo?: string;
  /**
   * Quiet ORT's error log too, for sessions that only read a model (a model ORT rejects
   * reaches the caller as the thrown error anyway).
   */
  readonly quiet?: boolean;
}

/**
 * Opens an ORT session on serialized model bytes. A model ORT rejects becomes a
 * `model_invalid` error naming `source` and ORT's one-line reason.
 */
export async function openSession(
  bytes: Uint8Array,
  config: SessionSetup,
  source = '<block>',
  options: OpenOptions = {},
): Promise<ort.InferenceSession> {
  // Warnings (old opsets, optimizer notes) would flood stderr: quiet them even for ORT's defaults.
  const knobs = config === ORT_DEFAULTS ? { logSeverityLevel: 3 as const } : sessionOptions(config);
  const saved =
    options.saveOptimizedTo === undefined ? {} : { optimizedModelFilePath: options.saveOptimizedTo };
  const quiet = options.quiet ? { logSeverityLevel: 4 as const } : {};
  try {
    return await ort.InferenceSession.create(bytes, { ...knobs, ...saved, ...quiet });
  } catch (err) {
    throw modelFileError(source, `ONNX Runtime cannot load it: ${ortReason(err)}`);
  }
}

/** ORT's messages carry a source location prefix and several lines; keep the reason. */
export function ortReason(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  return text.replace(/^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/, '');
}

/** The ONNX Runtime version sessions run on (profiles are measured per version). */
export function ortVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}
