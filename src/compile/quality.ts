import { seededRandom } from '../onnx/index.js';
import { typicalUs } from './interference.js';
import type { BlockSamples, MeasurePlan, ModelUnderTest } from './measure.js';
import { nonSpinningSibling, type VersionSpec } from './versions.js';
import {
  median,
  quantile,
  type ProfilePredictor,
  type ErrorStats,
  type QualityReport,
  type QualitySample,
} from '../profile/index.js';
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
  /** Called after every pass over the held-out blocks. */
  afterPass?: () => Promise<void>;
}

/**
 * The compiler checks itself: random multi-layer blocks, never measured as such before, are
 * predicted from the profile and then run. Each block is measured as the profile's layers were
 * (`measure`: primed runs, core counts interleaved round by round, then the sensitivity core
 * count under the generator at every calibrated level), but only in the versions the profile
 * predicts best there: every other version's runs would go unused, and in passes over all the
 * blocks (`qualityPassesOf`), each with its share of the runs. Samples: the predicted best
 * version alone on every measured core count, and under the generator at every level on the
 * sensitivity core count (only there does the generator have cores of its own).
 */
export async function checkQuality(ctx: QualityContext): Promise<QualityReport> {
  const { predictor, settings } = ctx;
  const { plan } = settings;
  const interfered = ctx.levels.length > 1;
  const held = heldOutBlocks(ctx).map(([i, j]) => {
    const predictions = [
      ...plan.coreCounts.map((cores) => ({ cores, level: 0, ...predictor.predict(i, j, cores, 0) })),
      ...ctx.levels.slice(1).map((level) => ({
        cores: plan.sensitivityCores,
        level,
        ...predictor.predict(i, j, plan.sensitivityCores, level),
      })),
    ];
    const blockPlan: MeasurePlan = {
      ...plan,
      versions: versionsToMeasure(
        plan.versions,
        predictions.map((p) => p.version),
      ),
      intensities: interfered ? plan.intensities : [0],
      pressureRounds: 0,
    };
    return { range: [i, j] as const, predictions, plan: blockPlan };
  });
  const passes = qualityPassesOf(settings);
  const perPass = held.map((): BlockSamples[] => []);
  for (let p = 0; p < passes; p++) {
    const repetitions = repetitionsInPass(plan.repetitions, passes, p);
    for (const [q, block] of held.entries()) {
      perPass[q].push(await ctx.mut.measure(block.range, { ...block.plan, repetitions }));
      ctx.onBlock?.();
    }
    await ctx.afterPass?.();
  }
  const measured = perPass.map(pooled);
  const samples = held.flatMap((block, q) =>
    block.predictions.map((p): QualitySample => {
      const runs = measured[q].versions.find((v) => v.version === p.version)!;
      const c = plan.coreCounts.indexOf(p.cores);
      const measuredUs = typicalUs(
        p.level === 0 ? runs.soloUs[c] : runs.levelUs[ctx.levels.indexOf(p.level)],
      );
      return {
        range: [block.range[0], block.range[1]],
        cores: p.cores,
        level: p.level,
        version: p.version,
        predictedUs: round1(p.latencyUs),
        measuredUs: round1(measuredUs),
        errorPct: round1((Math.abs(p.latencyUs - measuredUs) / measuredUs) * 100),
      };
    }),
  );
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

/**
 * Passes over the held-out blocks. The machine's state drifts for seconds to tens of seconds
 * (other tenants of the host's L3, docs/experiments/2026-11-27-compiler-on-epyc.md), and a 2-core block
 * runs up to 1.5x as long in one state as in another. A prediction sums layers measured at
 * many moments; a block measured in one moment compares that with one state, and its error is
 * the state's more than the profile's. In passes, every block has runs from every part of the
 * check, and its median is the typical latency the profile predicts.
 */
export function qualityPassesOf(settings: CompileSettings): number {
  return Math.max(1, Math.min(settings.qualityPasses, settings.plan.repetitions));
}

/** Repetitions of pass `p` of `passes`: the plan's, shared out as evenly as they go. */
function repetitionsInPass(total: number, passes: number, p: number): number {
  return Math.floor(total / passes) + (p < total % passes ? 1 : 0);
}

/** One block's passes as one measurement: every sample of every pass, per version and column. */
function pooled(passes: readonly BlockSamples[]): BlockSamples {
  const [first, ...rest] = passes;
  return {
    versions: first.versions.map((v, k) => ({
      ...v,
      soloUs: v.soloUs.map((runs, c) => [...runs, ...rest.flatMap((p) => p.versions[k].soloUs[c])]),
      levelUs: v.levelUs.map((runs, l) => [...runs, ...rest.flatMap((p) => p.versions[k].levelUs[l])]),
    })),
  };
}

/** Random blocks of 2 to `qualityMaxLayers` layers, none of them one the profile stores whole. */
function heldOutBlocks(ctx: QualityContext): [number, number][] {
  const n = ctx.predictor.layerCount;
  const random = seededRandom(ctx.seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const isStored = (i: number, j: number) => ctx.stored.some(([a, b]) => a === i && b === j);
  const blocks: [number, number][] = [];
  for (let q = 0; q < ctx.settings.qualityBlocks; q++) {
    const longest = Math.min(ctx.settings.qualityMaxLayers, n);
    const length = pick(Math.min(2, longest), longest);
    let i = pick(0, n - length);
    if (isStored(i, i + length)) i = (i + 1) % (n - length + 1);
    blocks.push([i, i + length]);
  }
  return blocks;
}

/**
 * The predicted versions, in plan order, and the non-spinning sibling of each spinning one:
 * on one core a spinning version runs its sibling's code, and `measure` takes the sibling's
 * runs under the generator for it.
 */
function versionsToMeasure(all: readonly VersionSpec[], predicted: readonly string[]): VersionSpec[] {
  const wanted = new Set(predicted);
  for (const v of all) {
    if (!wanted.has(v.id) || !v.spinning) continue;
    const sibling = nonSpinningSibling(v, all);
    if (sibling) wanted.add(sibling.id);
  }
  return all.filter((v) => wanted.has(v.id));
}

export function errorStats(samples: readonly QualitySample[]): ErrorStats {
  const errors = samples.map((s) => s.errorPct);
  if (errors.length === 0) return { n: 0, medianPct: 0, p90Pct: 0 };
  return { n: errors.length, medianPct: round1(median(errors)), p90Pct: round1(quantile(errors, 0.9)) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
