/**
 * Test fixtures for the compiler: a deterministic measurer (a latency model instead of ORT) and
 * a tiny real ONNX model. The fake replaces the *measurement*, not the compiler under test.
 */
import { GraphBuilder, encodeModel, makeModel, type ModelProto } from '../onnx/index.js';
import type { BlockRange } from '../partition/index.js';
import type { BlockSamples, LayerInfo, MeasurePlan, Measurer, ModelUnderTest } from './measure.js';
import { type MachineFingerprint, type TensorEdge, blockIoBytes } from '../profile/index.js';
import { VERSION_SPECS, nonSpinningSibling, versionSpec } from './versions.js';

export interface FakeLatency {
  /** Latency (us) of layer k inside a block on one core with version `all`. */
  layerUs(k: number): number;
  /** What running a block costs per run (us), and per MiB crossing its boundary. */
  callUs: number;
  usPerMiB: number;
  /** Multiplier per version id on solo latency. */
  versionFactor: Record<string, number>;
  /** Slowdown per unit level, per version id. */
  sensitivity: Record<string, number>;
  /**
   * Multiplier on layers' latency in blocks of two or more layers (absent = 1): a layer run
   * among other layers' data runs slower than primed by itself.
   */
  inBlockFactor?: number;
}

export const DEFAULT_FAKE: FakeLatency = {
  layerUs: (k) => 100 * (k + 1),
  callUs: 30,
  usPerMiB: 100,
  versionFactor: { all: 1, extended: 1.3, 'all+spin': 0.97, 'extended+spin': 1.28 },
  sensitivity: { all: 0.8, extended: 0.05, 'all+spin': 0.8, 'extended+spin': 0.05 },
};

export interface FakeMeasurerOptions {
  machine?: Partial<MachineFingerprint>;
  ortVersion?: string;
  layers?: number;
  latency?: FakeLatency;
  /** Throws when asked to measure single layer `failAtLayer` (simulates an interruption). */
  failAtLayer?: number;
  /**
   * Calibrations that find (almost) no level before the generator shows, as while other
   * tenants of the host's cache keep the probe slow anyway.
   */
  hiddenCalibrations?: number;
  /**
   * From the `from`-th block measured on (counting from 0), up to the `to`-th (absent: all the
   * rest), every run (on `cores` cores only, if given) is `factor` slower.
   */
  slowStretch?: { from: number; to?: number; factor: number; cores?: number };
  /**
   * Every session of `version` on `cores` cores (absent: 1) that measures a block starting at
   * `layer` runs `factor` slower.
   */
  slowSession?: { layer: number; version: string; factor: number; cores?: number };
}

/** A measurer whose "runs" follow a latency model; it counts what it was asked to measure. */
export class FakeMeasurer implements Measurer {
  readonly machine: MachineFingerprint;
  readonly ortVersion: string;
  readonly redoneRounds = 0;
  calls = { calibrate: 0, measure: 0 };
  /** The models it was asked to measure, as the compiler gave them. */
  readonly opened: ModelProto[] = [];
  /** Every block measured, with the versions it was measured in and its runs per column. */
  readonly measured: { range: BlockRange; versions: string[]; repetitions: number }[] = [];
  private readonly latency: FakeLatency;

  constructor(private readonly options: FakeMeasurerOptions = {}) {
    this.machine = {
      cpuModel: 'Fake CPU',
      usableCores: 2,
      cacheBytes: { L1d: 48 * 1024, L2: 1 << 20, L3: 32 << 20 },
      ...options.machine,
    };
    this.ortVersion = options.ortVersion ?? '1.30.0';
    this.latency = options.latency ?? DEFAULT_FAKE;
  }

  async calibrate(intensities: readonly number[]): Promise<number[]> {
    this.calls.calibrate++;
    const hidden = this.calls.calibrate <= (this.options.hiddenCalibrations ?? 0);
    return intensities.map((x) => (hidden ? fakeLevel(x) / 40 : fakeLevel(x)));
  }

  async open(model: ModelProto): Promise<ModelUnderTest> {
    this.opened.push(model);
    const count = this.options.layers ?? 4;
    const layers: LayerInfo[] = Array.from({ length: count }, (_, k) => ({
      name: `conv${k}`,
      ops: ['Conv', 'Relu'],
      macs: 1000 * (k + 1),
    }));
    return new FakeModel(this, layers, this.latency, this.options);
  }

  async close(): Promise<void> {}
}

class FakeModel implements ModelUnderTest {
  /** A chain of values (k + 1 MiB into layer k), plus a residual value of 2 MiB from layer 0 to layer 2. */
  readonly tensors: TensorEdge[];

  constructor(
    private readonly owner: FakeMeasurer,
    readonly layers: readonly LayerInfo[],
    private readonly latency: FakeLatency,
    private readonly options: FakeMeasurerOptions,
  ) {
    const n = layers.length;
    const MiB = 2 ** 20;
    this.tensors = Array.from({ length: n + 1 }, (_, k) => ({
      bytes: (k + 1) * MiB,
      producer: k - 1,
      consumers: [k],
    }));
    if (n > 2) this.tensors.push({ bytes: 2 * MiB, producer: 0, consumers: [2] });
  }

  /** Latency of a block: its layers and its run cost, scaled by cores, version and level. */
  blockUs(range: BlockRange, version: string, cores: number, level: number): number {
    let us =
      this.latency.callUs +
      (this.latency.usPerMiB * blockIoBytes(this.tensors, range[0], range[1])) / 2 ** 20;
    const inBlock = range[1] - range[0] > 1 ? (this.latency.inBlockFactor ?? 1) : 1;
    for (let k = range[0]; k < range[1]; k++) us += this.latency.layerUs(k) * inBlock;
    // One thread has no pool to spin: on one core a spinning version runs its sibling's code.
    const code =
      cores === 1 ? (nonSpinningSibling(versionSpec(version), VERSION_SPECS)?.id ?? version) : version;
    const scaled = (us * (this.latency.versionFactor[code] ?? 1)) / (cores === 1 ? 1 : 0.6 * cores);
    return scaled * (1 + (this.latency.sensitivity[version] ?? 0) * level);
  }

  private sessionFactor(range: BlockRange, version: string, cores: number): number {
    const slow = this.options.slowSession;
    const slowHere = slow && range[0] === slow.layer && version === slow.version;
    return slowHere && cores === (slow.cores ?? 1) ? slow.factor : 1;
  }

  /** The slow stretch's factor on `cores` cores when `moment` blocks have been measured. */
  private stretchFactor(moment: number, cores: number): number {
    const stretch = this.options.slowStretch;
    if (!stretch || (stretch.cores !== undefined && stretch.cores !== cores)) return 1;
    return moment >= stretch.from && moment < (stretch.to ?? Infinity) ? stretch.factor : 1;
  }

  async measure(range: BlockRange, plan: MeasurePlan): Promise<BlockSamples> {
    const call = this.owner.calls.measure++;
    const slower = (cores: number) => this.stretchFactor(call, cores);
    this.owner.measured.push({
      range,
      versions: plan.versions.map((v) => v.id),
      repetitions: plan.repetitions,
    });
    if (range[1] - range[0] === 1 && range[0] === this.options.failAtLayer) throw new Error('interrupted');
    const levels = plan.intensities.map(fakeLevel);
    const samples = (us: number, cores: number) =>
      Array.from({ length: plan.repetitions }, (_, r) => slower(cores) * us * (1 + 0.01 * (r % 3)));
    return {
      versions: plan.versions.map((v) => ({
        version: v.id,
        soloUs: plan.coreCounts.map((c) =>
          samples(this.blockUs(range, v.id, c, 0) * this.sessionFactor(range, v.id, c), c),
        ),
        levelUs: levels.map((l) =>
          samples(this.blockUs(range, v.id, plan.sensitivityCores, l), plan.sensitivityCores),
        ),
        pressure: v.optimization === 'all' ? 0.2 : 0.05,
      })),
    };
  }

  async release(): Promise<void> {}
}

/** The level a generator intensity produces on the fake machine. */
function fakeLevel(intensity: number): number {
  return Math.round(intensity * 0.8 * 1000) / 1000;
}

/** A small real model (`layers` Conv+Relu layers on a 1x4x8x8 input), serialized. */
export function tinyConvModel(layers = 3, seed = 1): Uint8Array {
  const g = new GraphBuilder('tiny', seed);
  let x = g.input('x', [1, 4, 8, 8]);
  for (let k = 0; k < layers; k++) {
    const w = g.weight('w', [4, 4, 3, 3], 0.2);
    x = g.op('Relu', [g.op('Conv', [x, w], { pads: [1, 1, 1, 1] })]);
  }
  g.output(x, [1, 4, 8, 8]);
  return encodeModel(makeModel(g.build(), 13));
}
