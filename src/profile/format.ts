/**
 * The profile format: what the adaptive compiler measures and what the scheduler and the
 * simulator read. Plain JSON data plus one predictor; no I/O here.
 */

export const PROFILE_SCHEMA = 'veltair.profile/1';

/*
 * Interference unit (used by `levels`, `pressure` and EngineView.interference): the
 * slowdown of the reference probe minus 1. The probe (compile/interference-shared.ts) copies a
 * working set as large as the last-level cache; level 0.5 means it takes 1.5x its quiet time
 * because co-runners evict its lines or take memory bandwidth. 0 = no interference.
 */

/** What a profile was measured on; a profile is reused only where the fingerprint matches. */
export interface MachineFingerprint {
  cpuModel: string;
  /** Cores this process may use (cgroup quota and affinity mask), not the host count. */
  usableCores: number;
  /** Cache sizes in bytes, keyed by level name (`L1d`, `L2`, `L3`). */
  cacheBytes: Record<string, number>;
}

/** One version of one layer (or block): an ORT configuration and how it behaves. */
export interface VersionProfile {
  /** Version id, stable across layers: e.g. `all`, `extended`, `all+spin`. */
  version: string;
  /**
   * Typical solo latency in microseconds, one entry per `coreCounts` entry: the median of the
   * timed runs (blocks are predicted as sums over layers, and the median of a sum is close to
   * the sum of medians; held-out checks use the median too). For a layer this is
   * its latency *inside* a block (one that continues after it): what a block pays at its end
   * is apart, in `boundaryUs`.
   */
  soloUs: number[];
  /**
   * Layers only: what a block ending with this layer pays on top of its layers' `soloUs`, per
   * `coreCounts` entry (us): the session call, materializing outputs for JavaScript and, with
   * `all`, converting back from NCHWc. Measured as S(k) = L(k) + L(k+1) - L([k, k+2)) from runs
   * of single layers and pairs. Absent = 0.
   */
  boundaryUs?: number[];
  /** 90th percentile solo latency in microseconds, one per `coreCounts` entry, where measured. */
  soloP90Us?: number[];
  /** Latency multiplier (>= 1) at each of the profile's `levels`; `slowdown[0]` is for level 0 and is 1. */
  slowdown: number[];
  /** Pressure this version puts on co-runners, in the same unit as interference levels, per core used. */
  pressure: number;
  /** Why the compiler kept this version (which axis it wins on). */
  why?: string;
}

export interface LayerProfile {
  index: number;
  /** Name of the layer's anchor node. */
  name: string;
  /** Operator types in the layer, anchor first. */
  ops: string[];
  /** Multiply-accumulates, where known (0 when not). */
  macs: number;
  /** The Pareto-optimal versions: the ones worth choosing for this layer. */
  versions: VersionProfile[];
  /**
   * Versions pruned as dominated here, with their measured numbers: a block runs one version on
   * all its layers, so a block whose other layers favour a version pays its real cost on this
   * one. Absent: none was pruned. Kept and dominated, every layer has every version's numbers.
   */
  dominated?: VersionProfile[];
}

/** A layer's versions with measured numbers: the kept ones, then those pruned as dominated. */
export function measuredVersions(layer: LayerProfile): VersionProfile[] {
  return [...layer.versions, ...(layer.dominated ?? [])];
}

export interface RunCost {
  callUs: number[];
  usPerMiB: number[];
}

/** A value produced by one layer (or a graph input) and read by later layers (or a graph output). */
export interface TensorEdge {
  bytes: number;
  /** Producing layer; -1 for a graph input. */
  producer: number;
  /** Reading layers, ascending; the layer count stands for "graph output". */
  consumers: number[];
}

/** A block measured whole: its own latency stands in for the sum of its layers'. */
export interface BlockProfile {
  range: [number, number];
  versions: VersionProfile[];
}

export interface ModelProfileData {
  schema: typeof PROFILE_SCHEMA;
  model: string;
  modelHash: string;
  machine: MachineFingerprint;
  ortVersion: string;
  /** Where the data came from: `compiled`, `calibration:<name>`, `fitted:<name>`, `synthetic`. */
  source: string;
  /**
   * Inputs whose values the model was compiled at (its `If`s specialised to the branches they
   * take, `specializeBranches`); absent: none.
   */
  pins?: Record<string, number[]>;
  /** Core counts the `soloUs` columns are measured at, ascending (e.g. [1, 2] or [8, 16, ..., 64]). */
  coreCounts: number[];
  /** Interference levels the `slowdown` columns are measured at, ascending, starting at 0. */
  levels: number[];
  layers: LayerProfile[];
  /** Blocks measured whole whose latency is not the sum of their layers' (the live runtime's units). */
  blocks?: BlockProfile[];
  /**
   * Per version, per `coreCounts` entry: the fitted cost of a session run, `callUs` per run
   * plus `usPerMiB` per MiB of values a block is fed or hands on (from `tensors`). The predictor
   * uses `usPerMiB` for residual values a block keeps inside (which pairs of layers never see).
   * Absent = 0.
   */
  runCost?: Record<string, RunCost>;
  /** Values that cross layers (see `runCost`). */
  tensors?: TensorEdge[];
  createdAt?: string;
  /** How the compiler measured this profile, and how well it predicts (compiled profiles only). */
  compile?: CompileInfo;
}

/** Prediction error over a set of blocks, in percent of the measured latency. */
export interface ErrorStats {
  n: number;
  medianPct: number;
  p90Pct: number;
}

/** One held-out check: a random block at a random level, predicted and then run. */
export interface QualitySample {
  range: [number, number];
  cores: number;
  level: number;
  version: string;
  predictedUs: number;
  measuredUs: number;
  errorPct: number;
}

export interface QualityReport {
  /** Blocks measured alone (level 0). */
  alone: ErrorStats;
  /** Blocks measured under the generator (level > 0). */
  interfered: ErrorStats;
  /**
   * `alone` split by core count (keys are core counts): multi-core runs depend on the other
   * cores being free, which a shared machine does not promise, so their error is shown apart.
   */
  aloneByCores?: Record<string, ErrorStats>;
  /**
   * Per core count (keys are core counts): how a few layers, measured again alone after every
   * pass of the check, ran then against their runs in the profile, the median ratio over those
   * layers, their non-spinning versions and the passes. Far from 1, the machine was in another
   * state during the check than while the profile was measured, and the errors above show it.
   */
  layersDuringCheck?: Record<string, number>;
  samples: QualitySample[];
}

export interface CompileInfo {
  mode: 'quick' | 'full';
  /** Hash of the machine fingerprint and ORT version (the cache key's machine half). */
  machineKey: string;
  /** Generator intensity (fraction of time each co-runner streams) behind each of `levels`. */
  intensities: number[];
  /** Cores the measured version held while slowdown was measured; the generator had the rest. */
  sensitivityCores: number;
  generatorThreads: number;
  /** Timed runs per (version, cores, level) after warmup. */
  repetitions: number;
  /** Wall-clock time the compile took. */
  compileMs: number;
  /** How it was measured (store.ts MEASURING_PROTOCOL); absent = 1. */
  protocol?: number;
  /** Measurement rounds redone because other processes used the CPU meanwhile. */
  disturbedRounds?: number;
  quality?: QualityReport;
}

/** A prediction: latency and the version that gives it. */
export interface Prediction {
  latencyUs: number;
  version: string;
}
