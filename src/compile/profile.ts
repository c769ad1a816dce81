/**
 * The profile format: what the adaptive compiler measures and what the scheduler and the
 * simulator read. Plain JSON data plus one predictor; no I/O here.
 */

export const PROFILE_SCHEMA = 'veltair.profile/1';

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
  /** Median solo latency in microseconds, one entry per `coreCounts` entry. */
  soloUs: number[];
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
  versions: VersionProfile[];
}

/** A coarse block whose latency differs from the sum of its layers (fusion, cache reuse). */
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
  /** Core counts the `soloUs` columns are measured at, ascending (e.g. [1, 2] or [8, 16, ..., 64]). */
  coreCounts: number[];
  /** Interference levels the `slowdown` columns are measured at, ascending, starting at 0. */
  levels: number[];
  layers: LayerProfile[];
  blocks?: BlockProfile[];
  createdAt?: string;
}

/** A prediction: latency and the version that gives it. */
export interface Prediction {
  latencyUs: number;
  version: string;
}
