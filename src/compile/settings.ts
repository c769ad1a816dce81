import type { MeasurePlan } from './measure.js';
import type { CompileMode } from './store.js';
import { VERSION_SPECS } from './versions.js';

/** Everything that sets how thorough a compile is. */
export interface CompileSettings {
  mode: CompileMode;
  plan: MeasurePlan;
  /** Rounds of the probe per intensity when calibrating levels. */
  calibrationRounds: number;
  /** Calibrations tried before the best one found is taken, and the pause between them. */
  calibrationAttempts: number;
  calibrationPauseMs: number;
  /** Coarse blocks measured whole: they calibrate the end-cost scale (`local-saving`). */
  coarseBlocks: number;
  /** Layers per coarse block. */
  coarseBlockLayers: number;
  /** Held-out blocks for the quality report, alone and under interference each. */
  qualityBlocks: number;
  /** Longest held-out block, in layers. */
  qualityMaxLayers: number;
  /**
   * Passes over the held-out blocks, each with its share of the repetitions: every block is
   * measured in every part of the check, not in one moment of it (quality.ts).
   */
  qualityPasses: number;
  /**
   * Layers, evenly spread, measured again alone after every pass of the check
   * (`recheckRepetitions` runs each): the quality report says how they ran then against the
   * profile (QualityReport `layersDuringCheck`).
   */
  recheckLayers: number;
  /**
   * Timed runs of a layer measured again after every pass of the check: they give a ratio per
   * core count over several layers, which needs fewer runs than a profile's entries.
   */
  recheckRepetitions: number;
  /** Relative noise margin of Pareto pruning. */
  latencyTolerance: number;
  pressureTolerance: number;
}

/** 1, 2, 4, ... up to `usable`, and `usable` itself. */
export function coreCountsFor(usable: number): number[] {
  const counts: number[] = [];
  for (let c = 1; c < usable; c *= 2) counts.push(c);
  counts.push(usable);
  return counts;
}

/**
 * The cores a version holds while its slowdown is measured: half the machine, so the
 * generator gets the other half. On a 2-core machine that is 1 + 1; a 1-core machine has no
 * free core, and there the generator time-shares the version's core (documented in the profile).
 */
export function sensitivityCoresFor(usable: number): number {
  return Math.max(1, Math.floor(usable / 2));
}

export function generatorThreadsFor(usable: number): number {
  return Math.max(1, usable - sensitivityCoresFor(usable));
}

/**
 * Untimed rounds before a measurement's first timed one. One is enough, since every timed run is
 * primed by an untimed run of its own (decision 0006): measuring 7 blocks of MobileNetV2,
 * ResNet-50 and VGG-19 (28 sessions per core count), the first timed run came out at 1.001x
 * (1 core) and 1.009x (2 cores) the median of the others after one warmup round, 1.000x after
 * two, 1.008-1.016x (a mean of 1.12x on 1 core) after none. A second round cost 5 % of the layer
 * phase and 12 % of the check (three passes, each opening its sessions anew).
 */
const WARMUP_ROUNDS = 1;

export function settingsFor(mode: CompileMode, usableCores: number): CompileSettings {
  const coreCounts = coreCountsFor(usableCores);
  const sensitivityCores = sensitivityCoresFor(usableCores);
  const quick = mode === 'quick';
  return {
    mode,
    plan: {
      versions: VERSION_SPECS,
      coreCounts,
      intensities: quick ? [0, 1] : [0, 0.1, 0.3, 1],
      sensitivityCores,
      warmup: WARMUP_ROUNDS,
      repetitions: quick ? 5 : 9,
      pressureWindowMs: quick ? 10 : 15,
      pressureRounds: 1,
    },
    calibrationRounds: quick ? 10 : 20,
    calibrationAttempts: quick ? 3 : 6,
    calibrationPauseMs: 3000,
    coarseBlocks: quick ? 2 : 4,
    coarseBlockLayers: 6,
    qualityBlocks: quick ? 3 : 16,
    qualityMaxLayers: 8,
    qualityPasses: quick ? 1 : 3,
    recheckLayers: 4,
    recheckRepetitions: 3,
    latencyTolerance: 0.05,
    pressureTolerance: 0.03,
  };
}
