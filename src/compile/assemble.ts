/**
 * How a profile is built from a compile's raw measurements: the base (what the measurements
 * say directly, see stages/assembly.ts), then the correction stages in order. Each stage is a
 * small module that owns its constants and says what physical effect it corrects. Pure: the
 * same raw measurements always give the same profile, so a compile can be replayed offline
 * and each stage's effect on the held-out error measured (`stageEffects`).
 */
import { ProfilePredictor } from './predictor.js';
import type { ErrorStats, ModelProfileData } from './profile.js';
import { errorStats } from './quality.js';
import { heldOutSamples, type RawCompile } from './raw.js';
import { baseAssembly, renderProfile, type Assembly } from './stages/assembly.js';
import { blockContext } from './stages/block-context.js';
import { blockOverrides } from './stages/block-overrides.js';
import { drift } from './stages/drift.js';
import { junctionSaving } from './stages/junction-saving.js';
import { linearFloor } from './stages/linear-floor.js';
import { localSaving } from './stages/local-saving.js';
import type { CorrectionStage } from './stages/stage.js';
import { slowdownScale } from './stages/slowdown-scale.js';

export type { CorrectionStage } from './stages/stage.js';

/** The correction stages, in the order they apply: each calibrates on what the ones before left. */
export const STAGES: readonly CorrectionStage[] = [
  drift,
  junctionSaving,
  localSaving,
  linearFloor,
  blockContext,
  slowdownScale,
  blockOverrides,
];

/** The assembly after the base and `stages`, in order. */
function assembled(raw: RawCompile, stages: readonly CorrectionStage[]): Assembly {
  return stages.reduce((a, stage) => stage.apply(a), baseAssembly(raw));
}

/** The profile `raw` gives through `stages` (all of them by default), with its compile record. */
export function assembleProfile(
  raw: RawCompile,
  stages: readonly CorrectionStage[] = STAGES,
): ModelProfileData {
  const a = assembled(raw, stages);
  const { settings } = raw;
  return {
    ...renderProfile(a),
    createdAt: raw.createdAt,
    compile: {
      mode: settings.mode,
      machineKey: raw.key.machineKey,
      intensities: [...settings.intensities],
      sensitivityCores: settings.sensitivityCores,
      generatorThreads: settings.generatorThreads,
      repetitions: settings.repetitions,
      compileMs: Math.round(raw.compileMs),
      protocol: raw.key.protocol,
      blockContext: { ...a.context },
      ...(raw.quality ? { quality: raw.quality } : {}),
      ...(raw.disturbedRounds !== undefined ? { disturbedRounds: raw.disturbedRounds } : {}),
    },
  };
}

/** The held-out error of a profile: its predictions of the versions measured, against the runs. */
export interface HeldOutError {
  alone: ErrorStats;
  interfered: ErrorStats;
  /** Samples whose version the profile no longer has (pruned): not counted. */
  skipped: number;
}

export function heldOutError(profile: ModelProfileData, raw: RawCompile): HeldOutError {
  const predictor = new ProfilePredictor(profile);
  const known = new Set([...predictor.versions]);
  const scored = heldOutSamples(raw)
    .filter((s) => known.has(s.version))
    .map((s) => {
      const predictedUs = predictor.blockUs(s.range[0], s.range[1], s.version, s.cores, s.level);
      return { ...s, predictedUs, errorPct: (Math.abs(predictedUs - s.measuredUs) / s.measuredUs) * 100 };
    });
  return {
    alone: errorStats(scored.filter((s) => s.level === 0)),
    interfered: errorStats(scored.filter((s) => s.level > 0)),
    skipped: heldOutSamples(raw).length - scored.length,
  };
}

/** One stage's effect: the held-out error after the stages up to it, and with all but it. */
export interface StageEffect {
  stage: string;
  corrects: string;
  /** Base plus the stages up to and including this one. */
  cumulative: HeldOutError;
  /** Every stage except this one. */
  without: HeldOutError;
}

/** The held-out error of the base alone, of every stage added in turn, and of each left out. */
export function stageEffects(raw: RawCompile): {
  base: HeldOutError;
  all: HeldOutError;
  stages: StageEffect[];
} {
  const errorOf = (stages: readonly CorrectionStage[]) => heldOutError(assembleProfile(raw, stages), raw);
  return {
    base: errorOf([]),
    all: errorOf(STAGES),
    stages: STAGES.map((stage, k) => ({
      stage: stage.name,
      corrects: stage.corrects,
      cumulative: errorOf(STAGES.slice(0, k + 1)),
      without: errorOf(STAGES.filter((s) => s !== stage)),
    })),
  };
}
