/**
 * The adaptive compiler: for every layer of a model, measure every version (ORT configuration)
 * alone on each core count and under calibrated interference, keep the Pareto-optimal ones,
 * check coarse blocks for non-additive latency, check its own predictions on held-out blocks,
 * and store the profile beside the model under its cache key.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, dirname } from 'node:path';
import { modelFileError, decodeModel, modelHash } from '../onnx/index.js';
import { specializeBranches, type BlockRange, type InputPins } from '../partition/index.js';
import { machineKey } from './fingerprint.js';
import { typicalUs } from './interference.js';
import type { BlockSamples, MeasurePlan, Measurer, ModelUnderTest } from './measure.js';
import { dominatedBy, paretoPrune } from './pareto.js';
import { ProfilePredictor, blockPressure, median, quantile } from '../profile/index.js';
import {
  PROFILE_SCHEMA,
  type BlockProfile,
  type LayerProfile,
  type ModelProfileData,
  type QualityReport,
  type RunCost,
  type VersionProfile,
} from '../profile/index.js';
import { checkQuality, qualityPassesOf } from './quality.js';
import {
  applyContext,
  applyScale,
  fitRunCost,
  localSavingScale,
  mapSoloUs,
  noFasterThanLinear,
  savingScale,
  scaleRunCost,
  splitBoundary,
} from './runcost.js';
import { generatorThreadsFor, settingsFor, type CompileSettings } from './settings.js';
import { versionSpec } from './versions.js';
import {
  MEASURING_PROTOCOL,
  partialPathFor,
  profilePathFor,
  readJson,
  readPartial,
  removeFile,
  staleReason,
  writeJsonAtomic,
  type CompileMode,
  type MeasuredBlock,
  type PartialProfile,
  type ProfileKey,
  type RawLayer,
} from './store.js';

export type CompilePhase = 'calibrate' | 'layers' | 'blocks' | 'quality';

/** Progress of one model's compile: `done` of `total` steps, across all phases. */
export interface CompileProgress {
  model: string;
  phase: CompilePhase;
  done: number;
  total: number;
}

export interface CompileOptions {
  mode: CompileMode;
  /** Rebuild even when a matching profile exists. */
  force?: boolean;
  measurer: Measurer;
  /** Overrides the mode's settings (tests, experiments). */
  settings?: CompileSettings;
  onProgress?: (p: CompileProgress) => void;
  /** Seed of the held-out block choice. */
  seed?: number;
  /** Clock for compile time (ms); injectable so tests need no real time. */
  now?: () => number;
  /** Inputs fixed to these values: the `If`s they decide are compiled as the branch they take. */
  pins?: InputPins;
}

export interface CompileResult {
  model: string;
  profilePath: string;
  profile: ModelProfileData;
  /** True when a stored profile matched the key and nothing was measured. */
  reused: boolean;
  /** Why it was (re)built, when it was. */
  rebuiltBecause?: string;
  /** Layers taken from an interrupted compile's partial results. */
  resumedLayers: number;
}

/** `<repo>/<model>/<v>/model.onnx` names the model `<model>`; other files by their stem. */
export function modelNameFor(modelPath: string): string {
  if (basename(modelPath) === 'model.onnx') return basename(dirname(dirname(modelPath)));
  return basename(modelPath).replace(/\.onnx$/i, '');
}

export async function compileModel(modelPath: string, options: CompileOptions): Promise<CompileResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const bytes = await readModelBytes(modelPath);
  const pins = options.pins ?? new Map();
  const model = (await specializeBranches(decodeModel(bytes, modelPath), pins)).model;
  const name = modelNameFor(modelPath);
  const { measurer } = options;
  const settings = options.settings ?? settingsFor(options.mode, measurer.machine.usableCores);
  const key: ProfileKey = {
    modelHash: modelHash(bytes),
    machineKey: machineKey(measurer.machine, measurer.ortVersion),
    ortVersion: measurer.ortVersion,
    mode: settings.mode,
    protocol: MEASURING_PROTOCOL,
    ...(pins.size > 0 ? { pins: pinnedValues(pins) } : {}),
  };
  const profilePath = profilePathFor(modelPath);
  const stored = await readJson<ModelProfileData>(profilePath);
  const stale = options.force ? 'forced' : staleReason(stored, key);
  if (!stale && stored) return { model: name, profilePath, profile: stored, reused: true, resumedLayers: 0 };

  const mut = await measurer.open(model, modelPath);
  try {
    const run = new ModelCompile(name, mut, settings, key, partialPathFor(profilePath), options, now);
    const { profile, resumedLayers } = await run.execute(started);
    await writeJsonAtomic(profilePath, profile);
    await removeFile(partialPathFor(profilePath));
    return { model: name, profilePath, profile, reused: false, rebuiltBecause: stale, resumedLayers };
  } finally {
    await mut.release();
  }
}

/** Pinned tensors as the numbers a profile records. */
function pinnedValues(pins: InputPins): Record<string, number[]> {
  return Object.fromEntries(
    [...pins].map(([name, t]) => [name, Array.from(t.data as ArrayLike<number | bigint>, Number)]),
  );
}

async function readModelBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw modelFileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`);
  }
}

/** One model's compile, resumable: state lives in `partial`, saved after every step. */
class ModelCompile {
  private partial!: PartialProfile;
  private done = 0;
  private total: number;
  private readonly redoneAtStart: number;

  constructor(
    private readonly name: string,
    private readonly mut: ModelUnderTest,
    private settings: CompileSettings,
    private readonly key: ProfileKey,
    private readonly partialPath: string,
    private readonly options: CompileOptions,
    private readonly now: () => number,
  ) {
    this.redoneAtStart = options.measurer.redoneRounds;
    this.total = this.totalSteps();
  }

  private totalSteps(): number {
    const { settings } = this;
    const quality = settings.qualityBlocks * qualityPassesOf(settings);
    return 1 + this.mut.layers.length + this.coarseRanges().length + quality;
  }

  private step(phase: CompilePhase, by = 1): void {
    this.done += by;
    this.options.onProgress?.({ model: this.name, phase, done: this.done, total: this.total });
  }

  private async save(startedMs: number): Promise<void> {
    await writeJsonAtomic(this.partialPath, { ...this.partial, elapsedMs: this.elapsedMs(startedMs) });
  }

  private elapsedMs(startedMs: number): number {
    return (this.partial?.elapsedMs ?? 0) + (this.now() - startedMs);
  }

  async execute(startedMs: number): Promise<{ profile: ModelProfileData; resumedLayers: number }> {
    const n = this.mut.layers.length;
    const { plan } = this.settings;
    const planKey = JSON.stringify([
      plan.versions.map((v) => v.id),
      plan.coreCounts,
      plan.intensities,
      plan.repetitions,
    ]);
    const resumed = await readPartial(this.partialPath, this.key, planKey, n);
    this.partial = resumed ?? {
      schema: 'veltair.partial/1',
      key: this.key,
      plan: planKey,
      ...(await this.calibrate()),
      layers: new Array<RawLayer | null>(n).fill(null),
      coarse: [],
      elapsedMs: 0,
    };
    // Measure at the intensities that gave distinct levels (the calibrated ones, when resuming).
    this.settings = {
      ...this.settings,
      plan: { ...this.settings.plan, intensities: this.partial.intensities },
    };
    this.total = this.totalSteps();
    const resumedLayers = this.partial.layers.filter((l) => l !== null).length;
    this.step('calibrate', 1 + resumedLayers);
    await this.measureLayers(startedMs);
    await this.measureCoarseBlocks(startedMs);
    const profile = this.assemble(0);
    const rechecked: RecheckedLayer[] = [];
    const quality = await checkQuality({
      mut: this.mut,
      predictor: new ProfilePredictor(profile),
      settings: this.settings,
      levels: this.partial.levels,
      stored: this.partial.coarse.map((b) => b.range),
      seed: this.options.seed ?? 1,
      onBlock: () => this.step('quality'),
      afterPass: async () => {
        rechecked.push(...(await this.recheckLayers()));
      },
    });
    const final = this.assemble(this.elapsedMs(startedMs));
    final.compile!.quality = { ...quality, ...this.layersDuringCheck(rechecked) };
    final.compile!.disturbedRounds = this.options.measurer.redoneRounds - this.redoneAtStart;
    return { profile: final, resumedLayers };
  }

  /**
   * Levels for the planned intensities. A top level the probe barely sees would make every
   * slowdown look steep, and leaves the profile without levels: calibration is retried, seconds
   * apart. Other tenants of the host's last-level cache, invisible from inside a VM, come and go
   * for seconds to tens of seconds; while they stream, the probe runs slow already (quiet passes
   * of 1.04-1.66 ms within one minute on this VM) and the generator adds nothing (top level
   * 0.003-0.044 against mostly 0.75-0.97), so retrying at once lands in the same stretch.
   */
  private async calibrate(): Promise<{ intensities: number[]; levels: number[] }> {
    const { plan, calibrationRounds, calibrationAttempts, calibrationPauseMs } = this.settings;
    let best = { intensities: [0], levels: [0] };
    for (let attempt = 0; attempt < calibrationAttempts; attempt++) {
      if (attempt > 0) await sleep(calibrationPauseMs);
      const found = distinctLevels(
        plan.intensities,
        await this.options.measurer.calibrate(plan.intensities, calibrationRounds),
      );
      const top = (l: number[]) => l[l.length - 1];
      if (top(found.levels) > top(best.levels)) best = found;
      if (top(best.levels) >= MIN_TOP_LEVEL || plan.intensities.length < 2) break;
    }
    return best;
  }

  /** A block measured for the profile (the held-out check measures through `mut` itself). */
  private async measure(range: BlockRange, plan: MeasurePlan): Promise<BlockSamples> {
    return oneCodeOnOneCore(await this.mut.measure(range, plan), plan.coreCounts);
  }

  private async measureLayers(startedMs: number): Promise<void> {
    const { plan } = this.settings;
    const n = this.mut.layers.length;
    // Pairs are measured alone only: they split each layer's run into in-block latency and end cost.
    const pairPlan = this.alonePlan();
    for (let i = 0; i < n; i++) {
      if (this.partial.layers[i]) continue;
      const single = await this.measure([i, i + 1], plan);
      const pair = i + 1 < n ? await this.measure([i, i + 2], pairPlan) : undefined;
      const info = this.mut.layers[i];
      this.partial.layers[i] = {
        index: i,
        name: info.name,
        ops: info.ops,
        macs: info.macs,
        single: versionProfiles(single, this.partial.levels),
        ...(pair
          ? { pairUs: Object.fromEntries(pair.versions.map((v) => [v.version, v.soloUs.map(typicalUs)])) }
          : {}),
      };
      await this.save(startedMs);
      this.step('layers');
    }
  }

  /**
   * `recheckLayers` layers, evenly spread, measured again alone in their non-spinning versions
   * (a spinning session needs time for its threads to settle after it, more than its runs take).
   */
  private async recheckLayers(): Promise<RecheckedLayer[]> {
    const n = this.mut.layers.length;
    const count = Math.min(n, this.settings.recheckLayers);
    const plan: MeasurePlan = {
      ...this.alonePlan(),
      versions: this.settings.plan.versions.filter((v) => !v.spinning),
      repetitions: this.settings.recheckRepetitions,
    };
    const out: RecheckedLayer[] = [];
    for (let q = 0; q < count; q++) {
      const index = Math.floor(((q + 0.5) * n) / count);
      out.push({ index, samples: await this.mut.measure([index, index + 1], plan) });
    }
    return out;
  }

  /**
   * The layers measured again during the check against their runs in the profile: per core
   * count, the median ratio (QualityReport `layersDuringCheck`).
   */
  private layersDuringCheck(rechecked: readonly RecheckedLayer[]): Pick<QualityReport, 'layersDuringCheck'> {
    const { coreCounts } = this.settings.plan;
    const ratios = coreCounts.map((): number[] => []);
    for (const { index, samples } of rechecked) {
      for (const v of samples.versions) {
        const profiled = this.partial.layers[index]?.single.find((w) => w.version === v.version);
        if (!profiled) continue;
        v.soloUs.forEach((runs, c) => ratios[c].push(typicalUs(runs) / profiled.soloUs[c]));
      }
    }
    if (ratios.every((r) => r.length === 0)) return {};
    return {
      layersDuringCheck: Object.fromEntries(
        coreCounts.map((cores, c) => [String(cores), round3(median(ratios[c]))]),
      ),
    };
  }

  /**
   * In-block layer profiles, pruned to the Pareto-optimal versions; `scale` is [c][k] per
   * version, `context` [c] per version (see `blockContext`).
   */
  private layerProfiles(
    raw: readonly RawLayer[],
    fitted: Record<string, RunCost>,
    scale: Record<string, number[][]>,
    context: Record<string, number[]> = {},
  ): LayerProfile[] {
    return raw.map((layer, k) => {
      const candidates = layer.single.map((v) =>
        noFasterThanLinear(
          applyContext(
            applyScale(
              splitBoundary(v, layer, raw[k + 1], this.mut.tensors, fitted[v.version]),
              scale[v.version]?.map((perLayer) => perLayer[k]),
            ),
            context[v.version],
          ),
          this.settings.plan.coreCounts,
        ),
      );
      const options = {
        coreCounts: this.settings.plan.coreCounts,
        levels: this.partial.levels,
        latencyTolerance: this.settings.latencyTolerance,
        pressureTolerance: this.settings.pressureTolerance,
      };
      const versions = paretoPrune(candidates, options);
      const dominated = dominatedBy(candidates, versions, options);
      return {
        index: layer.index,
        name: layer.name,
        ops: layer.ops,
        macs: layer.macs,
        versions,
        ...(dominated.length > 0 ? { dominated } : {}),
      };
    });
  }

  /**
   * Alone only, no pressure: for pairs and coarse blocks. As many rounds as layers get: a pair
   * sets its junction's end cost, S(k) = L(k) + L(k+1) - L([k, k+2)), and with half the rounds
   * its noise went straight into every block predicted across that junction.
   */
  private alonePlan(): MeasurePlan {
    return { ...this.settings.plan, intensities: [0], pressureRounds: 0 };
  }

  /** Even coarse blocks of `coarseBlockLayers` layers, at most `coarseBlocks` of them. */
  private coarseRanges(): [number, number][] {
    const n = this.mut.layers.length;
    const size = this.settings.coarseBlockLayers;
    const ranges: [number, number][] = [];
    if (n < 2 * size) return ranges;
    const stride = Math.floor(n / Math.min(this.settings.coarseBlocks, Math.floor(n / size)));
    for (let i = 0; ranges.length < this.settings.coarseBlocks && i + size <= n; i += stride) {
      ranges.push([i, i + size]);
    }
    return ranges;
  }

  /**
   * Measures coarse blocks whole, every version, and each block's layers again beside it: they
   * calibrate savingScale, the block context and scaleSlowdowns.
   */
  private async measureCoarseBlocks(startedMs: number): Promise<void> {
    const done = new Set(this.partial.coarse.map(({ range }) => `${range[0]}:${range[1]}`));
    for (const [i, j] of this.coarseRanges()) {
      if (done.has(`${i}:${j}`)) continue;
      // Alone, and under the generator on the sensitivity core count: the blocks calibrate both
      // junction savings (savingScale) and how layers' slowdowns add up (scaleSlowdowns).
      const samples = await this.measure([i, j], {
        ...this.alonePlan(),
        intensities: this.settings.plan.intensities,
      });
      this.partial.coarse.push({
        range: [i, j],
        versions: versionProfiles(samples, this.partial.levels),
        layersNowUs: await this.layerSumNow(i, j),
      });
      await this.save(startedMs);
      this.step('blocks');
    }
  }

  /**
   * The block's single layers measured again alone, right after it, with `recheckRepetitions`
   * runs: their summed typical latency per version and core count (see `atLayerTime`).
   */
  private async layerSumNow(i: number, j: number): Promise<Record<string, number[]>> {
    const plan = { ...this.alonePlan(), repetitions: this.settings.recheckRepetitions };
    const sum: Record<string, number[]> = {};
    for (let k = i; k < j; k++) {
      const samples = await this.measure([k, k + 1], plan);
      for (const v of samples.versions) {
        const us = v.soloUs.map(typicalUs);
        sum[v.version] = (sum[v.version] ?? us.map(() => 0)).map((x, c) => round1(x + us[c]));
      }
    }
    return sum;
  }

  /**
   * Coarse blocks as if measured when their layers were. The layers are measured minutes
   * before the blocks, and the machine may be in another state by then: other tenants of the
   * host's cache come and go for seconds to tens of seconds (see `calibrate`). A block's
   * latency is scaled by how much its layers, measured again right after it, have drifted
   * since (their sum then over their sum now), so that the blocks calibrate what blocks do,
   * not the machine's state: in one compile GoogLeNet's four blocks, all measured in one
   * such stretch, ran 1.04-1.12x their prediction, and its held-out blocks, measured after
   * it, ran 9 % faster than predicted once that was taken for a block context.
   */
  private atLayerTime(raw: readonly RawLayer[]): MeasuredBlock[] {
    return this.partial.coarse.map((block) => {
      const now = block.layersNowUs;
      if (!now) return block;
      const [i, j] = block.range;
      return {
        range: block.range,
        versions: block.versions.map((v) => {
          const drift = v.soloUs.map((_, c) => {
            let then = 0;
            for (let k = i; k < j; k++)
              then += raw[k]?.single.find((w) => w.version === v.version)?.soloUs[c] ?? NaN;
            const ratio = then / (now[v.version]?.[c] ?? NaN);
            return Number.isFinite(ratio) && ratio > 0 ? ratio : 1;
          });
          return mapSoloUs(v, (us, c) => us * drift[c]);
        }),
      };
    });
  }

  /**
   * Coarse blocks whose measured latency is still off the prediction by more than the
   * tolerance: stored whole. Under interference they slow as their layers do.
   */
  private blockOverrides(profile: ModelProfileData, coarse: readonly MeasuredBlock[]): BlockProfile[] {
    const predictor = new ProfilePredictor(profile);
    const kept = new Set(predictor.versions);
    const blocks: BlockProfile[] = [];
    for (const { range, versions } of coarse) {
      const [i, j] = range;
      const mine = versions.filter((v) => kept.has(v.version));
      const off = mine.some((v) =>
        profile.coreCounts.some((c, k) => {
          const predicted = predictor.blockUs(i, j, v.version, c, 0);
          return Math.abs(predicted - v.soloUs[k]) / v.soloUs[k] > this.settings.blockTolerance;
        }),
      );
      if (!off) continue;
      blocks.push({
        range: [i, j],
        versions: mine.map((v) => ({
          ...v,
          slowdown: profile.levels.map((l) =>
            round3(predictor.blockUs(i, j, v.version, 1, l) / predictor.blockUs(i, j, v.version, 1, 0)),
          ),
          pressure: round3(blockPressure(predictor, i, j, v.version, 'equal')),
          why: 'block latency is not the sum of its layers',
        })),
      });
    }
    return blocks;
  }

  /**
   * How much slower layers run inside a block than their own runs say, per version and core
   * count: a layer measured alone is primed by a run of itself, so its weights are in cache;
   * inside a block the other layers' weights and values have taken it (BERT-base's coarse
   * blocks, 9-28 MiB of weights, ran 1.10-1.21x the sum of their layers on 1 core, and every
   * held-out block was predicted too fast). Savings at junctions are `savingScale`'s; this only
   * adds: per coarse block the factor m on its layers' in-block latency that makes its
   * prediction right, the median over blocks, within [1, MAX_CONTEXT].
   */
  private blockContext(draft: ModelProfileData, coarse: readonly MeasuredBlock[]): Record<string, number[]> {
    const predictor = new ProfilePredictor(draft);
    const context: Record<string, number[]> = {};
    for (const version of predictor.versions) {
      context[version] = draft.coreCounts.map((cores, c) => {
        const ratios: number[] = [];
        for (const { range, versions } of coarse) {
          const [i, j] = range;
          const measured = versions.find((v) => v.version === version)?.soloUs[c];
          if (measured === undefined || j > draft.layers.length) continue;
          let inBlockUs = 0;
          for (let k = i; k < j; k++) inBlockUs += predictor.layerUs(k, version, cores, 0);
          const endUs = predictor.blockUs(i, j, version, cores, 0) - inBlockUs;
          if (inBlockUs > 0) ratios.push((measured - endUs) / inBlockUs);
        }
        return ratios.length > 0 ? round3(Math.min(MAX_CONTEXT, Math.max(1, median(ratios)))) : 1;
      });
    }
    return context;
  }

  /**
   * A layer's slowdown is measured on a one-layer block, whose run is dominated, for small
   * layers, by the end cost (allocating and copying outputs for JavaScript), which is more
   * memory-bound than the layer's kernels: summed, layers' slowdowns overstated how much
   * multi-layer blocks slow (ResNet-50 [1, 7) predicted 1.18x at level 0.06, measured 0.97x).
   * The coarse blocks, measured whole under the generator, give per version and level the
   * factor h on the excess slowdown (s - 1) that makes their prediction right, the median over
   * blocks, within [0, 1]; every layer's slowdown becomes 1 + h (s - 1).
   */
  private scaleSlowdowns(layers: LayerProfile[], draft: ModelProfileData): LayerProfile[] {
    if (draft.levels.length < 2) return layers;
    const predictor = new ProfilePredictor(draft);
    const sens = this.settings.plan.sensitivityCores;
    const factor = new Map<string, number[]>();
    for (const version of predictor.versions) {
      factor.set(
        version,
        draft.levels.map((level, l) => {
          if (l === 0) return 1;
          const ratios: number[] = [];
          for (const { range, versions } of this.partial.coarse) {
            const measured = versions.find((v) => v.version === version)?.slowdown[l];
            if (measured === undefined || range[1] > draft.layers.length) continue;
            const quiet = predictor.blockUs(range[0], range[1], version, sens, 0);
            const excess = predictor.blockUs(range[0], range[1], version, sens, level) / quiet - 1;
            if (excess > 0.01) ratios.push((measured - 1) / excess);
          }
          return ratios.length > 0 ? Math.min(1, Math.max(0, median(ratios))) : 1;
        }),
      );
    }
    return layers.map((layer) => ({
      ...layer,
      versions: layer.versions.map((v) => {
        const h = factor.get(v.version);
        return h ? { ...v, slowdown: v.slowdown.map((s, l) => round3(1 + h[l] * (s - 1))) } : v;
      }),
    }));
  }

  private skeleton(): Pick<
    ModelProfileData,
    'schema' | 'model' | 'modelHash' | 'machine' | 'ortVersion' | 'source' | 'pins'
  > {
    return {
      schema: PROFILE_SCHEMA,
      model: this.name,
      modelHash: this.key.modelHash,
      machine: this.options.measurer.machine,
      ortVersion: this.key.ortVersion,
      source: 'compiled',
      ...(this.key.pins ? { pins: this.key.pins } : {}),
    };
  }

  private assemble(compileMs: number): ModelProfileData {
    const { plan, mode } = this.settings;
    const raw = this.partial.layers.filter((l): l is RawLayer => l !== null);
    const ids = plan.versions.map((v) => v.id);
    const fitted = fitRunCost(raw, this.mut.tensors, ids, plan.coreCounts);
    const coarse = this.atLayerTime(raw);
    const scale = savingScale(raw, this.mut.tensors, fitted, coarse, plan.coreCounts.length);
    const runCost = scaleRunCost(fitted, scale);
    const local = localSavingScale(raw, this.mut.tensors, fitted, coarse, plan.coreCounts.length);
    const draft = {
      ...this.skeleton(),
      coreCounts: [...plan.coreCounts],
      levels: [...this.partial.levels],
      layers: this.layerProfiles(raw, fitted, local),
      runCost,
      tensors: [...this.mut.tensors],
    };
    const context = this.blockContext(draft, coarse);
    const layers = this.layerProfiles(raw, fitted, local, context);
    const base = {
      coreCounts: [...plan.coreCounts],
      levels: [...this.partial.levels],
      layers: this.scaleSlowdowns(layers, { ...draft, layers }),
      runCost,
    };
    const blocks = this.blockOverrides(
      { ...this.skeleton(), ...base, tensors: [...this.mut.tensors] },
      coarse,
    );
    return {
      ...this.skeleton(),
      ...base,
      ...(blocks.length > 0 ? { blocks } : {}),
      tensors: [...this.mut.tensors],
      createdAt: new Date().toISOString(),
      compile: {
        mode,
        machineKey: this.key.machineKey,
        intensities: [...plan.intensities],
        sensitivityCores: plan.sensitivityCores,
        generatorThreads: generatorThreadsFor(this.options.measurer.machine.usableCores),
        repetitions: plan.repetitions,
        compileMs: Math.round(compileMs),
        protocol: this.key.protocol,
        blockContext: context,
      },
    };
  }
}

/**
 * Upper bound of the block context factor: beyond it a coarse block is more likely a noisy run
 * than a layer slowed by its neighbours' data (BERT-base's blocks need 1.13-1.18).
 */
const MAX_CONTEXT = 1.3;

/** A layer measured again during the check (`recheckLayers`). */
interface RecheckedLayer {
  index: number;
  samples: BlockSamples;
}

/** A top level below this is recalibrated (`calibrationAttempts`): slopes from it would be noise. */
const MIN_TOP_LEVEL = 0.1;

/** Levels closer than this are one level measured twice (the probe cannot tell them apart). */
const MIN_LEVEL_GAP = 0.02;

/**
 * Keeps the intensities whose calibrated levels are distinct: where two are closer than
 * MIN_LEVEL_GAP, the higher intensity stays. The quiet level (intensity 0) always stays.
 */
export function distinctLevels(
  intensities: readonly number[],
  levels: readonly number[],
): { intensities: number[]; levels: number[] } {
  const keep: number[] = [0];
  for (let k = 1; k < levels.length; k++) {
    const last = keep[keep.length - 1];
    if (levels[k] - levels[last] >= MIN_LEVEL_GAP) keep.push(k);
    else if (last !== 0) keep[keep.length - 1] = k;
  }
  return { intensities: keep.map((k) => intensities[k]), levels: keep.map((k) => levels[k]) };
}

/**
 * On one core a spinning version runs its sibling's code (one thread has no pool to spin), so
 * their two sessions measured one thing twice, in the same rounds; both take the faster. Now
 * and then one session of a layer runs up to 2-3x slower than its twin for its whole
 * measurement (MobileNetV2 conv_4 `all` 1683 us against `all+spin` 756 us in one compile;
 * 1-12 of the zoo's 786 such pairs differed by over 1.25x per compile). Nothing makes code run
 * faster than it can, so of two measurements of it the faster is the less disturbed. The
 * held-out check keeps what each session measured.
 */
export function oneCodeOnOneCore(samples: BlockSamples, coreCounts: readonly number[]): BlockSamples {
  const c = coreCounts.indexOf(1);
  if (c < 0) return samples;
  const optimization = (id: string) => versionSpec(id).optimization;
  return {
    versions: samples.versions.map((v) => {
      const twin = samples.versions.find(
        (w) => w !== v && optimization(w.version) === optimization(v.version),
      );
      if (!twin || typicalUs(twin.soloUs[c]) >= typicalUs(v.soloUs[c])) return v;
      return { ...v, soloUs: v.soloUs.map((runs, k) => (k === c ? twin.soloUs[c] : runs)) };
    }),
  };
}

/**
 * Turns raw run times into version profiles: typical (median), median and 90th
 * percentile alone, and the slowdown, the ratio of typical times under the generator and
 * alone, at least 1 (a faster run under load is noise).
 */
export function versionProfiles(samples: BlockSamples, levels: readonly number[]): VersionProfile[] {
  return samples.versions.map((v) => {
    const alone = typicalUs(v.levelUs[0]);
    return {
      version: v.version,
      soloUs: v.soloUs.map((s) => round1(typicalUs(s))),
      soloP90Us: v.soloUs.map((s) => round1(quantile(s, 0.9))),
      slowdown: levels.map((_, k) => (k === 0 ? 1 : Math.max(1, round3(typicalUs(v.levelUs[k]) / alone)))),
      pressure: v.pressure,
    };
  });
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
