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
import { specializeBranches, withFastLrn, type BlockRange, type InputPins } from '../partition/index.js';
import { machineKey } from './fingerprint.js';
import { typicalUs } from './interference.js';
import type { BlockSamples, MeasurePlan, Measurer, ModelUnderTest } from './measure.js';
import {
  ProfilePredictor,
  median,
  quantile,
  type ModelProfileData,
  type QualityReport,
  type VersionProfile,
} from '../profile/index.js';
import { checkQuality, qualityPassesOf } from './quality.js';
import { assembleProfile } from './assemble.js';
import { RAW_SCHEMA, rawPathFor, type RawCompile } from './raw.js';
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
  /** Keep the raw measurements beside the profile (`rawPathFor`), for `--replay`. */
  keepRaw?: boolean;
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
  /** Where the raw measurements were kept, when asked to. */
  rawPath?: string;
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
  const model = await withFastLrn(
    (await specializeBranches(decodeModel(bytes, modelPath), pins)).model,
    modelPath,
  );
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
    const { profile, raw, resumedLayers } = await run.execute(started);
    await writeJsonAtomic(profilePath, profile);
    const rawPath = options.keepRaw ? rawPathFor(profilePath) : undefined;
    if (rawPath) await writeJsonAtomic(rawPath, raw);
    await removeFile(partialPathFor(profilePath));
    return {
      model: name,
      profilePath,
      profile,
      reused: false,
      rebuiltBecause: stale,
      resumedLayers,
      ...(rawPath ? { rawPath } : {}),
    };
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

  async execute(
    startedMs: number,
  ): Promise<{ profile: ModelProfileData; raw: RawCompile; resumedLayers: number }> {
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
    const profile = assembleProfile(this.raw(0));
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
    const raw = this.raw(this.elapsedMs(startedMs), {
      quality: { ...quality, ...this.layersDuringCheck(rechecked) },
      disturbedRounds: this.options.measurer.redoneRounds - this.redoneAtStart,
    });
    return { profile: assembleProfile(raw), raw, resumedLayers };
  }

  /**
   * Levels for the planned intensities. A top level the probe barely sees would make every
   * slowdown look steep, and leaves the profile without levels: calibration is retried, seconds
   * apart. Other tenants of the host's last-level cache, invisible from inside a VM, come and go
   * for seconds to tens of seconds; while they stream, the probe runs slow already (quiet passes
   * of 1.04-1.66 ms within one minute on a 2-vCPU cloud VM) and the generator adds nothing (top level
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
   * Measures coarse blocks whole, alone, every version: how much more a long block saves at its
   * junctions than its pairs say calibrates the end-cost scale (the `local-saving` stage).
   */
  private async measureCoarseBlocks(startedMs: number): Promise<void> {
    const done = new Set(this.partial.coarse.map(({ range }) => `${range[0]}:${range[1]}`));
    for (const [i, j] of this.coarseRanges()) {
      if (done.has(`${i}:${j}`)) continue;
      const samples = await this.measure([i, j], this.alonePlan());
      this.partial.coarse.push({ range: [i, j], versions: versionProfiles(samples, [0]) });
      await this.save(startedMs);
      this.step('blocks');
    }
  }

  /** The measurements so far, with the settings the assembly reads, as a replayable record. */
  private raw(compileMs: number, check?: { quality: QualityReport; disturbedRounds: number }): RawCompile {
    const { plan, mode } = this.settings;
    return {
      schema: RAW_SCHEMA,
      model: this.name,
      key: this.key,
      machine: this.options.measurer.machine,
      settings: {
        mode,
        versions: plan.versions.map((v) => v.id),
        coreCounts: [...plan.coreCounts],
        intensities: [...plan.intensities],
        sensitivityCores: plan.sensitivityCores,
        repetitions: plan.repetitions,
        generatorThreads: generatorThreadsFor(this.options.measurer.machine.usableCores),
        latencyTolerance: this.settings.latencyTolerance,
        pressureTolerance: this.settings.pressureTolerance,
      },
      levels: [...this.partial.levels],
      layers: this.partial.layers.filter((l): l is RawLayer => l !== null),
      coarse: this.partial.coarse,
      tensors: [...this.mut.tensors],
      ...(check ?? {}),
      compileMs: Math.round(compileMs),
      createdAt: new Date().toISOString(),
    };
  }
}

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
