/**
 * A model as the live engine serves it: cut once into segments (the original graph, as the
 * compiler measured it, so that blocks of different optimization levels hand each other plain
 * tensors), each segment and the whole model a unit that workers hold sessions for, and the
 * chains of units that run a block.
 */
import {
  GraphIndex,
  ORT_TYPE_NAME,
  encodeModel,
  loadModel,
  modelFileError,
  tensorTypeOf,
  type ModelProto,
} from '../onnx/index.js';
import { VERSION_SPECS, nonSpinningSibling, versionSpec } from '../compile/index.js';
import { ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import { ModelPartition, discoverLayers, inferValueTypes, type BlockRange } from '../partition/index.js';
import type { ChainStep, SessionSpec } from './protocol.js';
import { Worker } from 'node:worker_threads';
import { servedGraph, seededInputs, type PinnedValues, type ShapeOverrides } from '../partition/index.js';
import {
  DEFAULT_SEGMENT_OPTIONS,
  estimatedChainOverhead,
  measuredSegmentProfile,
  planSegments,
  segmentProfile,
  spins,
  withoutVersions,
  type SegmentOptions,
  type UnitLatencies,
} from './segments.js';
import { shared, toWire, type WireTensors } from './wire.js';
import type { SessionConfig } from '../partition/index.js';
import { scaledLatencies } from './operating.js';

/** A graph input a caller feeds. */
export interface ModelInput {
  readonly name: string;
  /** ORT tensor type, e.g. `float32`. */
  readonly type: string;
  /** Dims; a string is a symbolic dim, -1 unknown. */
  readonly dims: readonly (number | string)[];
}

/** A run of units on one worker: what it reads, what it hands back. */
export interface Chain {
  /** Unit indices in order. */
  readonly units: readonly number[];
  /** Values the chain reads from outside (the query's inputs or earlier chains' results). */
  readonly inputs: readonly string[];
  /** Values sent back: produced in the chain or fed to it, and read after it or graph outputs. */
  readonly returns: readonly string[];
  /** Per unit: its inputs and the values freed once it ran. */
  readonly steps: readonly { unit: number; inputs: readonly string[]; release: readonly string[] }[];
}

/** What the cutting thread is given, and what it answers. */
export interface CutRequest {
  readonly source: ServedModelSource;
  readonly opts: SegmentOptions;
}
export type CutReply = { readonly parts: ServedModelParts } | { readonly error: string };

interface Unit {
  readonly range: BlockRange;
  readonly bytes: Uint8Array;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** The whole model in one session keeps ORT's arena, as a model run whole is best served. */
  readonly whole: boolean;
  /** Seeded inputs for the run every session makes when opened (ORT's first run is slow). */
  readonly warmup: WireTensors;
}

/** What cutting a model produces: plain data, so that it can be made on another thread. */
export interface ServedModelParts {
  readonly name: string;
  readonly estimate: ModelProfileData;
  readonly sampleInputs: WireTensors;
  readonly segments: readonly BlockRange[];
  readonly units: readonly Unit[];
  readonly inputs: readonly ModelInput[];
  readonly outputNames: readonly string[];
  readonly readFrom: readonly ReadonlySet<string>[];
  readonly plan: SegmentOptions & { estimatedOverhead: number };
}

/** A model to serve: its file, the profile compiled for it, and the shapes and values its inputs are pinned to. */
export interface ServedModelSource {
  readonly name: string;
  readonly path: string;
  readonly profile: ModelProfileData;
  readonly shapes?: ShapeOverrides;
  readonly pins?: PinnedValues;
}

export class ServedModel {
  private readonly chains = new Map<number, Chain>();

  private planned: { profile: ModelProfileData; predictor: ProfilePredictor };
  /** What the runtime measured at start, before any scale from operation. */
  private measured: { latencies: UnitLatencies; predictor: ProfilePredictor } | undefined;

  private constructor(
    readonly name: string,
    /** The segment profile estimated from the compiled layer profile (see segments.ts). */
    readonly estimate: ModelProfileData,
    /** Seeded values of the model's inputs, to measure it. */
    readonly sampleInputs: WireTensors,
    /** Layer ranges of the segments. */
    readonly segments: readonly BlockRange[],
    private readonly units: readonly Unit[],
    readonly inputs: readonly ModelInput[],
    readonly outputNames: readonly string[],
    /** Values read after each segment boundary k (before segment k), k = 0..segments. */
    private readonly readFrom: readonly ReadonlySet<string>[],
    /** How the segments were planned, and what their cuts were estimated to cost (share of the whole). */
    readonly plan: SegmentOptions & { estimatedOverhead: number },
  ) {
    this.planned = { profile: estimate, predictor: new ProfilePredictor(estimate) };
  }

  /** The profile policies plan with: one layer per segment, measured once `useMeasured` ran. */
  get profile(): ModelProfileData {
    return this.planned.profile;
  }

  get predictor(): ProfilePredictor {
    return this.planned.predictor;
  }

  /** The profile of the latencies measured at start (the estimate's until then), whatever scale is applied. */
  get measuredPredictor(): ProfilePredictor {
    return this.measured?.predictor ?? this.planned.predictor;
  }

  /** Plans with the latencies the runtime measured for this model's units from now on. */
  useMeasured(latencies: UnitLatencies): void {
    const profile = measuredSegmentProfile(this.estimate, latencies);
    this.planned = { profile, predictor: new ProfilePredictor(profile) };
    this.measured = { latencies, predictor: this.planned.predictor };
  }

  /**
   * Plans with the measured latencies times `scale` by core count (what blocks cost in
   * operation over what was measured; none: as measured). Without a measurement, nothing changes.
   */
  useOperatingScale(scale: ReadonlyMap<number, number>): void {
    if (!this.measured) return;
    const profile = measuredSegmentProfile(this.estimate, scaledLatencies(this.measured.latencies, scale));
    this.planned = { profile, predictor: new ProfilePredictor(profile) };
  }

  /**
   * Loads the file at its pinned shapes, checks that its profile describes it (same layer
   * count), and cuts it into segments, on a thread of its own: the engine's thread keeps
   * serving meanwhile. Rejects with the reason (naming the file) when it cannot be served.
   */
  static load(
    source: ServedModelSource,
    opts: SegmentOptions = DEFAULT_SEGMENT_OPTIONS,
  ): Promise<ServedModel> {
    const worker = new Worker(new URL('./cut-worker.js', import.meta.url), {
      workerData: { source, opts } satisfies CutRequest,
    });
    return new Promise<ServedModel>((resolve, reject) => {
      worker.once('message', (m: CutReply) =>
        'parts' in m ? resolve(ServedModel.fromParts(m.parts)) : reject(new Error(m.error)),
      );
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the thread cutting ${source.path} exited (${code})`)));
    });
  }

  /** What `load` does on its thread. */
  static async cut(source: ServedModelSource, opts: SegmentOptions): Promise<ServedModelParts> {
    const model = await servedGraph(await loadModel(source.path), source.shapes, source.pins);
    return ServedModel.cutModel(source.name, model, source.profile, source.path, opts);
  }

  static fromParts(p: ServedModelParts): ServedModel {
    return new ServedModel(
      p.name,
      p.estimate,
      p.sampleInputs,
      p.segments,
      p.units,
      p.inputs,
      p.outputNames,
      p.readFrom,
      p.plan,
    );
  }

  static async fromModel(
    name: string,
    model: ModelProto,
    profile: ModelProfileData,
    source: string,
    opts: SegmentOptions = DEFAULT_SEGMENT_OPTIONS,
  ): Promise<ServedModel> {
    return ServedModel.fromParts(await ServedModel.cutModel(name, model, profile, source, opts));
  }

  private static async cutModel(
    name: string,
    model: ModelProto,
    profile: ModelProfileData,
    source: string,
    opts: SegmentOptions,
  ): Promise<ServedModelParts> {
    const typed = await inferValueTypes(model, source);
    const layers = discoverLayers(typed);
    if (layers.length !== profile.layers.length) {
      throw modelFileError(
        source,
        `has ${layers.length} layers but its profile has ${profile.layers.length}: compile it again`,
      );
    }
    const cut = new ModelPartition(typed, layers);
    // Spinning pool threads keep a CPU busy for ~30 ms after each run, on CPUs the ledger has
    // meanwhile given to another block: the live engine serves the versions that do not spin.
    const served = withoutVersions(profile, spins);
    const servedPred = new ProfilePredictor(served);
    const bytesAfter = (k: number) => cut.cutBytes(k + 1);
    const segments = planSegments(servedPred, bytesAfter, opts);
    const estimatedOverhead = estimatedChainOverhead(servedPred, segments, bytesAfter, opts.junctionScale);
    const planned = segmentProfile(served, segments);
    const ranges: BlockRange[] = segments.length > 1 ? [...segments, [0, layers.length]] : [...segments];
    const units = ranges.map((range, k): Unit => {
      const { inputs, outputs } = cut.boundary(range);
      const block = cut.extract(range);
      const warmup = Object.fromEntries(
        Object.entries(seededInputs(block)).map(([n, t]) => [n, shared(toWire(t))]),
      );
      return {
        range,
        bytes: shared(encodeModel(block)),
        inputs,
        outputs,
        whole: k === segments.length,
        warmup,
      };
    });
    const index = new GraphIndex(typed.graph!);
    const fed = new Set(index.feedInputs.map((v) => v.name));
    const outputNames = typed.graph!.output.map((o) => o.name);
    const inputs = index.feedInputs.map((v) => {
      const t = v.type ? tensorTypeOf(v.type) : undefined;
      const dims = t?.shape?.map((d) => d ?? -1) ?? [];
      return { name: v.name, type: ORT_TYPE_NAME[t?.elemType ?? 0] ?? 'unknown', dims };
    });
    // Values read at or after each segment boundary: what a chain ending there must hand back.
    const readFrom = segments.map(([from]) => new Set(cut.boundary([from, layers.length]).inputs));
    readFrom.push(new Set());
    const feedOnly = units.map((u) => ({
      ...u,
      inputs: u.inputs.filter((n) => fed.has(n) || !index.initializers.has(n)),
    }));
    const sampleInputs = Object.fromEntries(
      Object.entries(seededInputs(typed)).map(([n, t]) => [n, toWire(t)]),
    );
    return {
      name,
      estimate: planned,
      sampleInputs,
      segments,
      units: feedOnly,
      inputs,
      outputNames,
      readFrom,
      plan: { ...opts, estimatedOverhead },
    };
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Units that sessions are opened for: the segments, and the whole model when there are several. */
  get unitCount(): number {
    return this.units.length;
  }

  /** Bytes of the unit models (each worker holds sessions of all of them). */
  get unitBytes(): number {
    return this.units.reduce((s, u) => s + u.bytes.byteLength, 0);
  }

  /** The chain that runs segments [from, to): the whole-model unit for all of them, else the segments. */
  chain([from, to]: readonly [number, number]): Chain {
    const key = from * (this.segments.length + 1) + to;
    let chain = this.chains.get(key);
    if (!chain) this.chains.set(key, (chain = this.planChain(from, to, true)));
    return chain;
  }

  /** Every segment in turn, never the whole-model unit (to measure the segments). */
  segmentChain(): Chain {
    return this.planChain(0, this.segments.length, false);
  }

  private planChain(from: number, to: number, wholeUnit: boolean): Chain {
    const S = this.segments.length;
    if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= S)) {
      throw new RangeError(`${this.name}: segments [${from}, ${to}) outside [0, ${S})`);
    }
    const whole = wholeUnit && from === 0 && to === S && S > 1;
    const units = whole ? [S] : Array.from({ length: to - from }, (_, k) => from + k);
    const produced = new Set<string>();
    const inputs: string[] = [];
    for (const u of units) {
      for (const n of this.units[u].inputs) if (!produced.has(n) && !inputs.includes(n)) inputs.push(n);
      for (const n of this.units[u].outputs) produced.add(n);
    }
    const after = this.readFrom[to];
    const finals = new Set(this.outputNames);
    const returns = [...inputs, ...produced].filter((n) => after.has(n) || finals.has(n));
    const kept = new Set(returns);
    const lastStep = new Map<string, number>();
    units.forEach((u, k) => this.units[u].inputs.forEach((n) => lastStep.set(n, k)));
    // Values written and never read again inside the chain are dropped after their step too.
    units.forEach((u, k) => this.units[u].outputs.forEach((n) => lastStep.has(n) || lastStep.set(n, k)));
    const steps = units.map((u, k) => ({
      unit: u,
      inputs: this.units[u].inputs,
      release: [...lastStep].filter(([n, last]) => last === k && !kept.has(n)).map(([n]) => n),
    }));
    return { units, inputs, returns, steps };
  }

  /** The key a worker holds a unit's session under, for a version on some CPUs. */
  sessionKey(unit: number, version: string, cpus: readonly number[]): string {
    return `${this.name}#${unit}@${codeOf(version, cpus.length)}/${cpus.join('.')}`;
  }

  /** Prefix of every session key of this model (to release them). */
  get keyPrefix(): string {
    return `${this.name}#`;
  }

  /** The steps a worker runs for `chain` in `version` on `cpus`. */
  steps(chain: Chain, version: string, cpus: readonly number[]): ChainStep[] {
    return chain.steps.map((s) => ({
      session: this.sessionKey(s.unit, version, cpus),
      inputs: s.inputs,
      release: s.release,
    }));
  }

  /**
   * Sessions the worker of `cpus[0]` needs to run any block of this model in any of `versions`
   * on `cpus`: one per unit and distinct code (on one CPU a spinning version is its
   * non-spinning sibling: there is no pool to spin).
   */
  sessionSpecs(
    cpus: readonly number[],
    versions: readonly string[] = this.predictor.versions,
  ): SessionSpec[] {
    const codes = [...new Set(versions.map((v) => codeOf(v, cpus.length)))];
    return this.units.flatMap((unit, k) =>
      codes.map((code): SessionSpec => {
        const spec = versionSpec(code);
        const config: SessionConfig = {
          threads: cpus.length,
          optimization: spec.optimization,
          spinning: spec.spinning,
          poolCpus: cpus.slice(1),
          memory: unit.whole ? 'arena' : 'heap',
        };
        return {
          key: this.sessionKey(k, code, cpus),
          bytes: unit.bytes,
          warmup: unit.warmup,
          config,
          source: `${this.name} layers [${unit.range[0]}, ${unit.range[1]}) ${code}@${cpus.join('.')}`,
        };
      }),
    );
  }
}

/** The version whose code runs `version` on `cores` CPUs: one thread has no pool to spin. */
function codeOf(version: string, cores: number): string {
  const spec = versionSpec(version);
  return cores > 1 ? spec.id : (nonSpinningSibling(spec, VERSION_SPECS) ?? spec).id;
}
