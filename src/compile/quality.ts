import { seededRandom } from '../onnx/index.js';
import { median, quantile, typicalUs } from './interference.js';
import type { ModelUnderTest, VersionSamples } from './measure.js';
import type { ProfilePredictor } from './predictor.js';
import type { ErrorStats, QualityReport, QualitySample } from './profile.js';
import type { CompileSettings } from './settings.js';

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
 * predicted from the profile and then run. Each block is measured exactly as the profile's
 * layers were (`measure`: every version on every core count interleaved round by round, then
 * the sensitivity core count under the generator at every calibrated level), so the check
 * compares like with like; a block measured back to back on its own session keeps its weights
 * in cache and runs up to 20 % faster than the same block interleaved with other sessions,
 * which is closer to a shared server. Samples: the predicted best version alone on every
 * measured core count, and under the generator at every level on the sensitivity core count
 * (only there does the generator have cores of its own).
 */
export async function checkQuality(ctx: QualityContext): Promise<QualityReport> {
  const { predictor, settings } = ctx;
  const { plan } = settings;
  const n = predictor.layerCount;
  const random = seededRandom(ctx.seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const samples: QualitySample[] = [];
  const isStored = (i: number, j: number) => ctx.stored.some(([a, b]) => a === i && b === j);
  const interfered = ctx.levels.length > 1;
  for (let q = 0; q < settings.qualityBlocks; q++) {
    const longest = Math.min(settings.qualityMaxLayers, n);
    const length = pick(Math.min(2, longest), longest);
    let i = pick(0, n - length);
    if (isStored(i, i + length)) i = (i + 1) % (n - length + 1);
    const j = i + length;
    const measured = await ctx.mut.measure([i, j], {
      ...plan,
      intensities: interfered ? plan.intensities : [0],
      pressureRounds: 0,
    });
    /** One sample: the predicted best version, and its measured runs as `runsOf` picks them. */
    const add = (cores: number, level: number, runsOf: (v: VersionSamples) => readonly number[]) => {
      const predicted = predictor.predict(i, j, cores, level);
      const measuredUs = typicalUs(runsOf(measured.versions.find((v) => v.version === predicted.version)!));
      samples.push({
        range: [i, j],
        cores,
        level,
        version: predicted.version,
        predictedUs: round1(predicted.latencyUs),
        measuredUs: round1(measuredUs),
        errorPct: round1((Math.abs(predicted.latencyUs - measuredUs) / measuredUs) * 100),
      });
    };
    plan.coreCounts.forEach((cores, c) => add(cores, 0, (v) => v.soloUs[c]));
    for (let k = 1; interfered && k < ctx.levels.length; k++) {
      add(plan.sensitivityCores, ctx.levels[k], (v) => v.levelUs[k]);
    }
    ctx.onBlock?.();
  }
  const alone = samples.filter((s) => s.level === 0);
  return {
    alone: errorStats(alone),
    interfered: errorStats(samples.filter((s) => s.level > 0)),
    aloneByCores: Object.fromEntries(
      plan.coreCounts.map((c) => [String(c), errorStats(alone.filter((s) => s.cores === c))]),
    ),
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
