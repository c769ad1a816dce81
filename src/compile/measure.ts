/**
 * Measuring blocks on ONNX Runtime: the real `Measurer` the compiler uses (tests inject a fake
 * with the same interface). Robustness on a shared machine comes from interleaving: every
 * round runs every (version, cores, level) once in turn, so drift from other processes' load
 * hits all of them alike, and statistics are medians over rounds after warmup.
 */
import type * as ort from 'onnxruntime-node';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  elementBytes,
  encodeModel,
  freeTensorMemory,
  tensorTypeBytes,
  type ModelProto,
} from '../onnx/index.js';
import {
  ModelPartition,
  discoverLayers,
  inferValueTypes,
  openSession,
  ortVersion,
  seededInputs,
  type BlockRange,
  type TensorMap,
} from '../partition/index.js';
import { lastLevelCacheBytes, machineFingerprint } from './fingerprint.js';
import {
  CpuPlacement,
  PressureProbe,
  calibrateLevels,
  startGenerator,
  type InterferenceGenerator,
} from './interference.js';
import { ForeignLoadMeter, cleanRounds } from './load.js';
import type { MachineFingerprint, TensorEdge } from '../profile/index.js';
import { nonSpinningSibling, type VersionSpec } from './versions.js';

/** What to measure on one block. */
export interface MeasurePlan {
  versions: readonly VersionSpec[];
  coreCounts: readonly number[];
  /** Generator intensities, the first 0 (alone). */
  intensities: readonly number[];
  /** Core count at which slowdown under the generator is measured. */
  sensitivityCores: number;
  warmup: number;
  repetitions: number;
  /** Probe windows (ms) and rounds for the pressure a version exerts; 0 rounds = skip. */
  pressureWindowMs: number;
  pressureRounds: number;
}

export interface VersionSamples {
  version: string;
  /** Run times (us) alone, one array per `coreCounts` entry. */
  soloUs: number[][];
  /** Run times (us) at `sensitivityCores`, one array per intensity (the first = alone). */
  levelUs: number[][];
  /** Pressure exerted while running on `sensitivityCores`, in interference units. */
  pressure: number;
}

export interface BlockSamples {
  versions: VersionSamples[];
}

export interface LayerInfo {
  name: string;
  ops: string[];
  macs: number;
}

/** A model opened for measurement. */
export interface ModelUnderTest {
  readonly layers: readonly LayerInfo[];
  /** Values crossing layers, with their sizes (what a block's run cost depends on). */
  readonly tensors: readonly TensorEdge[];
  measure(range: BlockRange, plan: MeasurePlan): Promise<BlockSamples>;
  release(): Promise<void>;
}

export interface Measurer {
  readonly machine: MachineFingerprint;
  readonly ortVersion: string;
  /** Rounds redone so far because other processes disturbed them. */
  readonly redoneRounds: number;
  /** Levels (interference units) each intensity produces on this machine now. */
  calibrate(intensities: readonly number[], rounds: number): Promise<number[]>;
  open(model: ModelProto, source: string): Promise<ModelUnderTest>;
  close(): Promise<void>;
}

/**
 * The real measurer: ORT sessions per (block, version, cores), a streaming generator on
 * `generatorThreads` worker threads, and a probe thread for pressure.
 */
export class OrtMeasurer implements Measurer {
  readonly machine: MachineFingerprint;
  readonly ortVersion = ortVersion();
  /** Rounds redone because other processes disturbed them (a measure of how noisy it was). */
  redoneRounds = 0;
  private readonly meter = new ForeignLoadMeter();
  /** Which CPU each measuring thread runs on. */
  readonly placement: CpuPlacement;
  private generator?: InterferenceGenerator;
  private probe?: PressureProbe;

  constructor(
    readonly generatorThreads: number,
    machine?: MachineFingerprint,
  ) {
    this.machine = machine ?? machineFingerprint();
    this.placement = CpuPlacement.ofThisProcess(generatorThreads);
  }

  private get llcBytes(): number {
    return lastLevelCacheBytes(this.machine);
  }

  async generatorReady(): Promise<InterferenceGenerator> {
    this.generator ??= await startGenerator(
      this.generatorThreads,
      this.llcBytes,
      this.placement.coRunnerCpus,
    );
    return this.generator;
  }

  async probeReady(): Promise<PressureProbe> {
    this.probe ??= await PressureProbe.start(this.llcBytes, this.placement.coRunnerCpus);
    return this.probe;
  }

  /** Runs `round` `count` times, redoing rounds other processes disturbed (bounded). */
  async rounds<T>(count: number, round: () => Promise<T>): Promise<{ results: T[]; redone: number }> {
    const out = await cleanRounds(
      { rounds: count, maxForeignCores: MAX_FOREIGN_CORES, retries: count, meter: this.meter },
      round,
    );
    this.redoneRounds += out.redone;
    return out;
  }

  async calibrate(intensities: readonly number[], rounds: number): Promise<number[]> {
    const generator = await this.generatorReady();
    return this.placement.withMainThreadPinned(() =>
      calibrateLevels(generator, intensities, this.llcBytes, rounds, (n, f) => this.rounds(n, f)),
    );
  }

  async open(model: ModelProto, source: string): Promise<ModelUnderTest> {
    const layers = discoverLayers(model);
    const typed = await inferValueTypes(model, source);
    const cut = new ModelPartition(typed, layers);
    const info = layers.map((l) => ({ name: l.anchor, ops: [...l.ops], macs: l.macs }));
    return new OrtModel(this, cut, info, tensorEdges(cut, layers.length), source);
  }

  async close(): Promise<void> {
    await this.generator?.close();
    await this.probe?.close();
    this.generator = undefined;
    this.probe = undefined;
  }
}

type Feeds = TensorMap;

/** Other processes' CPU use (cores, averaged over a round) above which the round is redone. */
const MAX_FOREIGN_CORES = 0.3;

/** Long enough for ORT's idle intra-op threads to stop spinning after a run. */
const SPIN_SETTLE_MS = 20;

interface OpenSession {
  version: VersionSpec;
  cores: number;
  session: ort.InferenceSession;
}

class OrtModel implements ModelUnderTest {
  constructor(
    private readonly measurer: OrtMeasurer,
    private readonly cut: ModelPartition,
    readonly layers: readonly LayerInfo[],
    readonly tensors: readonly TensorEdge[],
    private readonly source: string,
  ) {}

  private async openAll(
    bytes: Uint8Array,
    range: BlockRange,
    configs: readonly { version: VersionSpec; cores: number }[],
  ): Promise<OpenSession[]> {
    const open: OpenSession[] = [];
    for (const { version, cores } of configs) {
      const name = `${this.source} block [${range[0]}, ${range[1]}) ${version.id}@${cores}`;
      const session = await openSession(
        bytes,
        {
          threads: cores,
          optimization: version.optimization,
          spinning: version.spinning,
          poolCpus: this.measurer.placement.poolCpus(cores),
        },
        name,
      );
      open.push({ version, cores, session });
    }
    return open;
  }

  private block(range: BlockRange): { bytes: Uint8Array; model: ModelProto } {
    const model = this.cut.extract(range);
    return { model, bytes: encodeModel(model) };
  }

  async measure(range: BlockRange, plan: MeasurePlan): Promise<BlockSamples> {
    const { model, bytes } = this.block(range);
    // The same inputs for every run and every version of a block.
    const feeds = seededInputs(model, { seed: 0x5eed + range[0], integers: 'zeros' });
    const configs = plan.versions.flatMap((version) => plan.coreCounts.map((cores) => ({ version, cores })));
    const measured = new Map<string, ConfigSamples>();
    for (const group of sessionGroups(configs, weightBytes(model))) {
      const out = await this.measureGroup(bytes, range, feeds, group, plan);
      for (const [key, value] of out) measured.set(key, value);
      if (group.some(spins)) await sleep(SPIN_SETTLE_MS);
    }
    const versions = plan.versions.map((version): VersionSamples => {
      const sens = measured.get(configKey(version, plan.sensitivityCores));
      // One thread has no pool to spin: a spinning version's sensitivity is its sibling's.
      const sibling = nonSpinningSibling(version, plan.versions);
      const complete = (c: ConfigSamples | undefined) => c?.levelUs.length === plan.intensities.length;
      const siblingSamples = sibling ? measured.get(configKey(sibling, plan.sensitivityCores)) : undefined;
      const under = complete(sens) ? sens! : complete(siblingSamples) ? siblingSamples! : sens!;
      return {
        version: version.id,
        soloUs: plan.coreCounts.map((c) => measured.get(configKey(version, c))!.levelUs[0]),
        levelUs: under.levelUs,
        pressure: under.pressure,
      };
    });
    return { versions };
  }

  /**
   * Measures a group of configurations with all their sessions open, interleaved: each round
   * runs every session alone, then, level by level, the sessions measured under interference.
   * Sessions open before the main thread is pinned (see CpuPlacement).
   */
  private async measureGroup(
    bytes: Uint8Array,
    range: BlockRange,
    feeds: Feeds,
    group: readonly Config[],
    plan: MeasurePlan,
  ): Promise<Map<string, ConfigSamples>> {
    const sessions = await this.openAll(bytes, range, group);
    try {
      const interfered = sessions.filter((s) => underInterference(s, plan));
      const generator = interfered.length > 0 ? await this.measurer.generatorReady() : undefined;
      const probe =
        interfered.length > 0 && plan.pressureRounds > 0 ? await this.measurer.probeReady() : undefined;
      return await this.measurer.placement.withMainThreadPinned(() =>
        this.runGroup(sessions, interfered, feeds, plan, generator, probe),
      );
    } finally {
      await Promise.all(sessions.map((s) => s.session.release()));
    }
  }

  private async runGroup(
    sessions: readonly OpenSession[],
    interfered: readonly OpenSession[],
    feeds: Feeds,
    plan: MeasurePlan,
    generator: InterferenceGenerator | undefined,
    probe: PressureProbe | undefined,
  ): Promise<Map<string, ConfigSamples>> {
    // Warm up in rounds, as measured: back to back, the last session would start the first round hot.
    for (let w = 0; w < plan.warmup; w++) for (const s of sessions) await untimedRun(s.session, feeds);
    const samples = new Map<OpenSession, number[][]>(
      sessions.map((s) => [s, plan.intensities.map(() => [])]),
    );
    // Alone first, in rounds of their own: right after the generator the caches are cold,
    // which would inflate solo latency.
    const alone = await this.measurer.rounds(plan.repetitions, async () => {
      const round: number[] = [];
      for (const s of sessions) round.push(await timeRun(s.session, feeds));
      return round;
    });
    for (const round of alone.results) round.forEach((t, m) => samples.get(sessions[m])![0].push(t));
    if (generator) {
      const under = await this.measurer.rounds(plan.repetitions, async () => {
        const round: number[][] = [];
        for (let k = 1; k < plan.intensities.length; k++) {
          await generator.setIntensity(plan.intensities[k]);
          const times: number[] = [];
          for (const s of interfered) times.push(await timeRun(s.session, feeds));
          round.push(times);
        }
        await generator.setIntensity(0);
        return round;
      });
      for (const round of under.results) {
        round.forEach((times, k) => times.forEach((t, m) => samples.get(interfered[m])![k + 1].push(t)));
      }
    }
    const out = new Map<string, ConfigSamples>();
    for (const s of sessions) {
      const measured = interfered.includes(s);
      const levelUs = measured ? samples.get(s)! : [samples.get(s)![0]];
      const pressure =
        measured && probe
          ? await probe.pressureOf(
              () => untimedRun(s.session, feeds),
              plan.pressureWindowMs,
              plan.pressureRounds,
            )
          : 0;
      out.set(configKey(s.version, s.cores), { levelUs, pressure });
    }
    return out;
  }

  async release(): Promise<void> {}
}

/**
 * Times one run of `session`, right after an untimed one. Why primed: how much of a small
 * block's weights and activations is still in cache otherwise depends on what ran just before,
 * which differs between the rounds alone (every version and core count in turn) and under the
 * generator (only the sensitivity core count): MobileNetV2 [7, 10) on 1 core ran 737 us after
 * five other sessions, 571 after one, 530 back to back. Primed, every sample sees its own warm
 * state, whatever the round holds, and the generator's pressure is what slows it.
 */
async function timeRun(session: ort.InferenceSession, feeds: Feeds): Promise<number> {
  await untimedRun(session, feeds);
  const start = performance.now();
  const results = await session.run(feeds);
  const us = (performance.now() - start) * 1000;
  freeResults(results);
  return us;
}

async function untimedRun(session: ort.InferenceSession, feeds: Feeds): Promise<void> {
  freeResults(await session.run(feeds));
}

/** As the block executor does: results are freed at once, so runs see the same memory state. */
function freeResults(results: ort.InferenceSession.OnnxValueMapType): void {
  for (const value of Object.values(results)) freeTensorMemory(value as ort.Tensor);
}

/** Sessions of one block open at once stay under this many bytes of weights (VGG's FC layers). */
const GROUP_WEIGHT_BYTES = 768 * 1024 ** 2;

/** Versions measured together: all of them, unless their weights would take too much memory. */
/** One session to measure: a version on a core count. */
interface Config {
  version: VersionSpec;
  cores: number;
}

/** Run times of one configuration: alone (`levelUs[0]`) and per level, where measured. */
interface ConfigSamples {
  levelUs: number[][];
  pressure: number;
}

function configKey(version: VersionSpec, cores: number): string {
  return `${version.id}@${cores}`;
}

/** A session whose idle threads spin after a run (one thread has no pool to spin). */
function spins(c: Config): boolean {
  return c.version.spinning && c.cores > 1;
}

/**
 * Measured under the generator: the sensitivity core count, except a spinning version on one
 * core, which runs the very same code as its non-spinning sibling.
 */
function underInterference(c: Config, plan: MeasurePlan): boolean {
  if (plan.intensities.length < 2 || c.cores !== plan.sensitivityCores) return false;
  return !(c.version.spinning && c.cores === 1);
}

/**
 * Sessions measured together, interleaved: all that do not spin, then each spinning version's
 * multi-thread sessions on their own (their idle threads spin for ~10-20 ms after a run and
 * would slow whatever runs next); fewer at once where weights (`weights` bytes per session)
 * would take too much memory (VGG's FC layers).
 */
function sessionGroups(configs: readonly Config[], weights: number): Config[][] {
  const perGroup = Math.max(1, Math.floor(GROUP_WEIGHT_BYTES / Math.max(1, weights * 2)));
  const groups: Config[][] = [];
  const quiet = configs.filter((c) => !spins(c));
  for (let k = 0; k < quiet.length; k += perGroup) groups.push(quiet.slice(k, k + perGroup));
  const spinning = [...new Set(configs.filter(spins).map((c) => c.version))];
  for (const v of spinning) {
    const mine = configs.filter((c) => spins(c) && c.version === v);
    for (let k = 0; k < mine.length; k += perGroup) groups.push(mine.slice(k, k + perGroup));
  }
  return groups;
}

function weightBytes(model: ModelProto): number {
  let total = 0;
  for (const t of model.graph?.initializer ?? []) {
    const count = t.dims.reduce((a, d) => a * Number(d), 1);
    total += count * elementBytes(t.dataType);
  }
  return total;
}

/** The values that cross layers: who produces each, who reads it, and its size. */
function tensorEdges(cut: ModelPartition, layerCount: number): TensorEdge[] {
  const producer = new Map<string, number>();
  const consumers = new Map<string, Set<number>>();
  const readBy = (name: string, layer: number) =>
    consumers.set(name, (consumers.get(name) ?? new Set()).add(layer));
  for (let k = 0; k < layerCount; k++) {
    const b = cut.boundary([k, k + 1]);
    for (const o of b.outputs) producer.set(o, k);
    for (const i of b.inputs) readBy(i, k);
  }
  for (const o of cut.model.graph?.output ?? []) readBy(o.name, layerCount);
  return [...consumers].map(([name, readers]) => ({
    bytes: tensorTypeBytes(cut.index.typeOf(name)),
    producer: producer.get(name) ?? -1,
    consumers: [...readers].sort((a, b) => a - b),
  }));
}
