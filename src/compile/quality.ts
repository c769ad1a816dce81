import { seededRandom } from '../onnx/index.js';
import { median, quantile, typicalUs } from './interference.js';
import type { ModelUnderTest } from './measure.js';
import type { ProfilePredictor } from './predictor.js';
import type { ErrorStats, QualityReport, QualitySample } from './profile.js';
import type { CompileSettings } from './settings.js';
import { versionSpec } from './versions.js';

export interface QualityContext {
  mut: ModelUnderTest;
  predictor: ProfilePredictor;
  settings: CompileSettings;
  /** Calibrated levels, matching settings.plan.intensities one to one. */
  levels: readonly number[];
  /** Ranges whose latency the profile stores directly: not held out, so skipped. */
  stored: readonly (readonly [number, number])[];
  seed: number;
  onBlock?: () => void;
}

/**
 * The compiler checks itself: random multi-layer blocks, never measured as such before, are
 * predicted from the profile and then run, alone on random core counts and under the
 * generator at random calibrated levels (on the sensitivity core count: only there does the
 * generator have cores of its own).
 */
export async function checkQuality(ctx: QualityContext): Promise<QualityReport> {
  const { predictor, settings } = ctx;
  const n = predictor.layerCount;
  const random = seededRandom(ctx.seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const samples: QualitySample[] = [];
  const isStored = (i: number, j: number) => ctx.stored.some(([a, b]) => a === i && b === j);
  for (let q = 0; q < settings.qualityBlocks; q++) {
    for (const interfered of [false, true]) {
      if (interfered && ctx.levels.length < 2) continue;
      const longest = Math.min(settings.qualityMaxLayers, n);
      const length = pick(Math.min(2, longest), longest);
      let i = pick(0, n - length);
      if (isStored(i, i + length)) i = (i + 1) % (n - length + 1);
      const j = i + length;
      const maxCores = interfered ? settings.plan.sensitivityCores : Math.max(...settings.plan.coreCounts);
      const cores = pick(1, maxCores);
      const k = interfered ? pick(1, ctx.levels.length - 1) : 0;
      const level = ctx.levels[k];
      const predicted = predictor.predict(i, j, cores, level);
      const times = await ctx.mut.measureOne(
        [i, j],
        versionSpec(predicted.version),
        cores,
        settings.plan.intensities[k],
        settings.plan,
      );
      const measuredUs = typicalUs(times);
      samples.push({
        range: [i, j],
        cores,
        level,
        version: predicted.version,
        predictedUs: round1(predicted.latencyUs),
        measuredUs: round1(measuredUs),
        errorPct: round1((Math.abs(predicted.latencyUs - measuredUs) / measuredUs) * 100),
      });
      ctx.onBlock?.();
    }
  }
  return {
    alone: errorStats(samples.filter((s) => s.level === 0)),
    interfered: errorStats(samples.filter((s) => s.level > 0)),
    samples,
  };
}

export function errorStats(samples: readonly QualitySample[]): ErrorStats {
  const errors = samples.map((s) => s.errorPct);
  if (errors.length === 0) return { n: 0, medianPct: 0, p90Pct: 0 };
  return { n: errors.length, medianPct: round1(median(errors)), p90Pct: round1(quantile(errors, 0.9)) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
