/**
 * Segments: the layer ranges the live runtime holds sessions for. A model is cut once into
 * segments; every block the engine runs is a union of consecutive segments, chained inside one
 * worker, or the whole model in one session. So the sessions held are bounded (segments + 1 per
 * version, CPU window and worker) while blocks still adapt (decision 0010).
 *
 * Policies see a model at segment granularity: `segmentProfile` turns a layer profile into one
 * whose layers are the segments, each costing what its session costs (its layers plus what a
 * session pays at its end), so a chain is predicted as the sum of its segments, and the whole
 * model as one session, as they run.
 */
import { versionSpec } from '../compile/index.js';
import {
  ProfilePredictor,
  blockPressure,
  measuredVersions,
  soloAt,
  type LayerProfile,
  type ModelProfileData,
  type VersionProfile,
} from '../profile/index.js';
import type { BlockRange } from '../partition/index.js';

export interface SegmentOptions {
  /**
   * Largest share of a segment's latency a cut after it may cost: a segment ends after the
   * first layer whose cut costs at most this share of the segment so far (1 core, the version
   * fastest alone). Smaller: fewer, longer segments; chains cost less, blocks adapt less.
   */
  junctionShare: number;
  /**
   * Measured over estimated cost of the cuts: the compiler's run costs leave out what a session
   * pays at its start (converting its inputs into ORT's blocked layout, for one); the runtime
   * measures a plan and plans again with its estimates scaled by this (default 1).
   */
  junctionScale?: number;
  /**
   * Longest a segment may run on one core (us): a query waits for at most one segment of
   * another before its next block can start, so this bounds how long a short query can be held
   * up. Default: no bound; the runtime bounds it by the shortest served model's whole latency.
   */
  maxSegmentUs?: number;
  /** One segment, the whole model (no compiled profile to say where a cut is cheap). */
  whole?: boolean;
}

export const DEFAULT_SEGMENT_OPTIONS: SegmentOptions = { junctionShare: 0.05 };

const MIB = 1024 * 1024;

/**
 * Interference levels measured up to less than this (the probe slowed by under 10 %) carry no
 * usable slowdown curve: a 480 MiB L3 absorbs the compiler's memory-streaming co-runners.
 */
export const MIN_INTERFERENCE_RANGE = 0.1;

/**
 * What cutting a model after layer k costs a chain on one core, in us: one more session run
 * (`runCost.callUs`) and the values crossing the cut handed out of one session and fed to the
 * next (`runCost.usPerMiB`, twice), as the compiler fitted them; without run costs in the
 * profile, what a block ending at k pays (`boundaryUs`).
 */
export function junctionUs(
  pred: ProfilePredictor,
  k: number,
  version: string,
  bytesAfter: (k: number) => number,
): number {
  const cost = pred.data.runCost?.[version];
  if (!cost) return pred.boundaryUs(k, version, 1);
  const at1 = (us: number[]) =>
    soloAt({ version, soloUs: us, slowdown: [1], pressure: 0 }, pred.data.coreCounts, 1);
  return at1(cost.callUs) + (2 * at1(cost.usPerMiB) * bytesAfter(k)) / MIB;
}

/**
 * Cuts a model into segments, first to last: a segment ends after the first layer whose cut
 * costs at most `junctionShare` of the segment's latency, or before the layer that would take it
 * past `maxSegmentUs`. `bytesAfter(k)` is what crosses a cut after layer k. Ranges tile
 * [0, layerCount).
 */
export function planSegments(
  pred: ProfilePredictor,
  bytesAfter: (k: number) => number,
  opts: SegmentOptions = DEFAULT_SEGMENT_OPTIONS,
): BlockRange[] {
  if (opts.whole) return [[0, pred.layerCount]];
  const out: BlockRange[] = [];
  const scale = opts.junctionScale ?? 1;
  const longest = opts.maxSegmentUs ?? Infinity;
  let from = 0;
  for (let k = 0; k < pred.layerCount - 1; k++) {
    if (k > from && pred.predict(from, k + 1, 1, 0).latencyUs > longest) {
      out.push([from, k]);
      from = k;
    }
    const { latencyUs, version } = pred.predict(from, k + 1, 1, 0);
    if (scale * junctionUs(pred, k, version, bytesAfter) <= opts.junctionShare * latencyUs) {
      out.push([from, k + 1]);
      from = k + 1;
    }
  }
  out.push([from, pred.layerCount]);
  return out;
}

/**
 * What the cuts of a plan are estimated to add to the whole model on one core (a share of it),
 * with the estimates scaled as the plan was (`junctionScale`).
 */
export function estimatedChainOverhead(
  pred: ProfilePredictor,
  segments: readonly BlockRange[],
  bytesAfter: (k: number) => number,
  junctionScale = 1,
): number {
  const { latencyUs, version } = pred.predict(0, pred.layerCount, 1, 0);
  let cuts = 0;
  for (const [, to] of segments.slice(0, -1)) cuts += junctionUs(pred, to - 1, version, bytesAfter);
  return latencyUs > 0 ? (junctionScale * cuts) / latencyUs : 0;
}

/**
 * The profile without the versions `drop` rejects. A layer left with no kept version keeps its
 * fastest remaining one (1 core).
 */
export function withoutVersions(
  data: ModelProfileData,
  drop: (version: string) => boolean,
): ModelProfileData {
  const layers = data.layers.map((layer): LayerProfile => {
    const versions = layer.versions.filter((v) => !drop(v.version));
    const dominated = (layer.dominated ?? []).filter((v) => !drop(v.version));
    if (versions.length > 0 || dominated.length === 0) return { ...layer, versions, dominated };
    const fastest = dominated.reduce((a, b) => (b.soloUs[0] < a.soloUs[0] ? b : a));
    return { ...layer, versions: [fastest], dominated: dominated.filter((v) => v !== fastest) };
  });
  return {
    ...data,
    layers,
    blocks: data.blocks?.map((b) => ({ ...b, versions: b.versions.filter((v) => !drop(v.version)) })),
  };
}

/** Whether a version's idle pool threads spin (they burn a CPU for ~30 ms after each run). */
export function spins(version: string): boolean {
  return versionSpec(version).spinning;
}

/**
 * The profile a policy plans with when the model runs as `segments`: one layer per segment,
 * with every version's latency per core count and level as the layer profile predicts the
 * segment run as one session, and the whole model stored as a block of its own (it runs as one
 * session, without the segments' ends).
 */
export function segmentProfile(data: ModelProfileData, segments: readonly BlockRange[]): ModelProfileData {
  const pred = new ProfilePredictor(data);
  const refCores = data.compile?.sensitivityCores ?? data.coreCounts[0];
  // Below this top level the compiler's generator barely moved its probe: the curves measured
  // there are noise, and read beyond it (the monitor extrapolates) they would predict any
  // slowdown at all. Plan without an interference axis instead.
  const levels = data.levels[data.levels.length - 1] >= MIN_INTERFERENCE_RANGE ? data.levels : [0];
  const versionOf = (range: BlockRange, version: string): VersionProfile => {
    const [i, j] = range;
    const solo = pred.blockUs(i, j, version, refCores, 0);
    return {
      version,
      soloUs: data.coreCounts.map((c) => pred.blockUs(i, j, version, c, 0)),
      slowdown: levels.map((l) => (solo > 0 ? pred.blockUs(i, j, version, refCores, l) / solo : 1)),
      pressure: blockPressure(pred, i, j, version, { cores: refCores }),
    };
  };
  const layers = segments.map((range, index): LayerProfile => {
    const [i, j] = range;
    const covered = data.layers.slice(i, j);
    const all = pred.versions.map((v) => versionOf(range, v));
    return {
      index,
      name: j - i === 1 ? covered[0].name : `${covered[0].name}..${covered[covered.length - 1].name}`,
      ops: [...new Set(covered.flatMap((l) => l.ops))],
      macs: covered.reduce((s, l) => s + l.macs, 0),
      versions: all.filter((v) => pred.competes(i, j, v.version)),
      dominated: all.filter((v) => !pred.competes(i, j, v.version)),
    };
  });
  const whole: BlockRange = [0, data.layers.length];
  return {
    schema: data.schema,
    model: data.model,
    modelHash: data.modelHash,
    machine: data.machine,
    ortVersion: data.ortVersion,
    source: `segments:${data.source}`,
    coreCounts: data.coreCounts,
    levels,
    layers,
    blocks:
      segments.length > 1
        ? [{ range: [0, segments.length], versions: pred.versions.map((v) => versionOf(whole, v)) }]
        : [],
    createdAt: data.createdAt,
    compile: data.compile,
  };
}

/** Measured latencies of a model's units (segments, then the whole model), by version and cores: us. */
export type UnitLatencies = ReadonlyMap<string, ReadonlyMap<number, readonly number[]>>;

/**
 * The segment profile with every latency the runtime measured in place of the estimate: the
 * live engine's sessions, on its pinned workers, are what policies must predict. Core counts
 * not measured (more than the machine has) keep the estimate scaled by the measured/estimated
 * ratio at the largest measured count; slowdowns and pressures stay the compiled profile's.
 */
export function measuredSegmentProfile(
  estimate: ModelProfileData,
  measured: UnitLatencies,
): ModelProfileData {
  const segments = estimate.layers.length;
  const apply = (vp: VersionProfile, unit: number): VersionProfile => {
    const byCores = measured.get(vp.version);
    if (!byCores) return vp;
    const soloUs = [...vp.soloUs];
    let ratio: number | undefined;
    estimate.coreCounts.forEach((c, k) => {
      const us = byCores.get(c)?.[unit];
      if (us === undefined || !(us > 0)) return;
      ratio = us / vp.soloUs[k];
      soloUs[k] = us;
    });
    estimate.coreCounts.forEach((c, k) => {
      if (byCores.get(c)?.[unit] === undefined && ratio !== undefined) soloUs[k] = vp.soloUs[k] * ratio;
    });
    return { ...vp, soloUs };
  };
  const layers = estimate.layers.map((l, unit): LayerProfile => {
    const all = measuredVersions(l).map((v) => apply(v, unit));
    const kept = all.filter((v) => worthChoosing(v, all));
    return { ...l, versions: kept, dominated: all.filter((v) => !kept.includes(v)) };
  });
  return {
    ...estimate,
    source: `measured-${estimate.source}`,
    layers,
    blocks: estimate.blocks?.map((b) => ({ ...b, versions: b.versions.map((v) => apply(v, segments)) })),
  };
}

/** Within this share of the fastest version on some core count, a version is worth choosing. */
const NEAR_FASTEST = 0.03;

/** Near the fastest on some core count, or the least slowed at the top interference level. */
function worthChoosing(v: VersionProfile, all: readonly VersionProfile[]): boolean {
  const top = (x: VersionProfile) => x.slowdown[x.slowdown.length - 1];
  if (all.every((o) => top(v) <= top(o))) return true;
  return v.soloUs.some((us, k) => all.every((o) => us <= o.soloUs[k] * (1 + NEAR_FASTEST)));
}
