/**
 * How a profile is built from a compile's raw measurements: the base (what the measurements
 * say directly, see stages/assembly.ts), then the correction stages in order. Each stage is a
 * small module that owns its constants and says what physical effect it corrects. Pure: the
 * same raw measurements always give the same profile, so a compile can be replayed offline
 * and each stage's effect on the held-out error measured (`stageEffects`).
 */
import { ProfilePredictor } from '../profile/index.js';
import type { ErrorStats, ModelProfileData, QualitySample } from '../profile/index.js';
import { errorStats } from './quality.js';
import { heldOutSamples, type RawCompile } from './raw.js';
import { baseAssembly, renderProfile, type Assembly } from './stages/assembly.js';
import { linearFloor } from './stages/linear-floor.js';
import { localSaving } from './stages/local-saving.js';
import type { CorrectionStage } from './stages/stage.js';

export type { CorrectionStage } from './stages/stage.js';

/** The correction stages, in the order they apply: each calibrates on what the ones before left. */
export const STAGES: readonly CorrectionStage[] = [localSaving, linearFloor];

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

/** `raw`'s held-out samples as `profile` predicts them; those of versions it lacks are left out. */
function scoredSamples(profile: ModelProfileData, raw: RawCompile): QualitySample[] {
  const predictor = new ProfilePredictor(profile);
  const known = new Set(predictor.versions);
  return heldOutSamples(raw)
    .filter((s) => known.has(s.version))
    .map((s) => {
      const predictedUs = predictor.blockUs(s.range[0], s.range[1], s.version, s.cores, s.level);
      return { ...s, predictedUs, errorPct: (Math.abs(predictedUs - s.measuredUs) / s.measuredUs) * 100 };
    });
}

/** The held-out error of the profiles `stages` build from `raws`, their samples pooled. */
export function heldOutError(
  raws: readonly RawCompile[],
  stages: readonly CorrectionStage[] = STAGES,
): HeldOutError {
  const scored = raws.flatMap((raw) => scoredSamples(assembleProfile(raw, stages), raw));
  const total = raws.reduce((n, raw) => n + heldOutSamples(raw).length, 0);
  return {
    alone: errorStats(scored.filter((s) => s.level === 0)),
    interfered: errorStats(scored.filter((s) => s.level > 0)),
    skipped: total - scored.length,
  };
}

/** One number per set of stages: median plus p90 error, alone plus under interference (points). */
export function errorScore(e: HeldOutError): number {
  return e.alone.medianPct + e.alone.p90Pct + e.interfered.medianPct + e.interfered.p90Pct;
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

/** The held-out error of the measurements alone, of every stage added in turn, and of each left out. */
export function stageEffects(raws: readonly RawCompile[]): {
  base: HeldOutError;
  all: HeldOutError;
  stages: StageEffect[];
} {
  return {
    base: heldOutError(raws, []),
    all: heldOutError(raws, STAGES),
    stages: STAGES.map((stage, k) => ({
      stage: stage.name,
      corrects: stage.corrects,
      cumulative: heldOutError(raws, STAGES.slice(0, k + 1)),
      without: heldOutError(
        raws,
        STAGES.filter((s) => s !== stage),
      ),
    })),
  };
}

/** A stage earns its place when leaving it out raises the error score by at least this. */
export const MIN_STAGE_GAIN = 1;

export interface EliminationRound {
  stages: string[];
  score: number;
  /** The score with each stage left out. */
  without: { stage: string; score: number }[];
  /** The stage this round removes; none when every stage earns its place. */
  removed?: string;
}

/**
 * Backward elimination (docs/compiler.md, "Which stages stay"): while some stage's leaving out
 * raises the score by less than MIN_STAGE_GAIN, remove the one whose leaving out lowers it most.
 */
export function eliminateStages(
  raws: readonly RawCompile[],
  stages: readonly CorrectionStage[] = STAGES,
): EliminationRound[] {
  const rounds: EliminationRound[] = [];
  let kept = [...stages];
  for (;;) {
    const score = errorScore(heldOutError(raws, kept));
    const without = kept.map((stage) => ({
      stage: stage.name,
      score: errorScore(
        heldOutError(
          raws,
          kept.filter((s) => s !== stage),
        ),
      ),
    }));
    const weakest = [...without].sort((a, b) => a.score - b.score)[0];
    const removes = weakest !== undefined && weakest.score - score < MIN_STAGE_GAIN;
    rounds.push({
      stages: kept.map((s) => s.name),
      score,
      without,
      ...(removes ? { removed: weakest.stage } : {}),
    });
    if (!removes) return rounds;
    kept = kept.filter((s) => s.name !== weakest.stage);
  }
}
