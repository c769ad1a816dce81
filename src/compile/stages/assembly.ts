/**
 * A profile being assembled from a compile's raw measurements. The base is what the
 * measurements say directly: every version of every layer at its one-layer-block latency, split
 * into in-block latency and end cost by the junctions measured in pairs, with the run cost
 * fitted over those junctions. Each correction stage (`STAGES` in ../assemble.ts) fills one
 * field below; left at its identity, the field changes nothing, so any stage can be left out.
 */
import { dominatedBy, paretoPrune } from '../pareto.js';
import {
  PROFILE_SCHEMA,
  type LayerProfile,
  type ModelProfileData,
  type RunCost,
  type VersionProfile,
} from '../../profile/index.js';
import type { RawCompile } from '../raw.js';
import { applyScale, fitRunCost, noFasterThanLinear, splitBoundary } from '../runcost.js';
import type { RawLayer } from '../store.js';

export interface Assembly {
  readonly raw: RawCompile;
  /** Run cost (call + per MiB) fitted over the measured junctions, per version. */
  readonly fitted: Readonly<Record<string, RunCost>>;
  /** Factor on each layer's end cost, per version, [core count][layer]. */
  readonly endCostScale: Readonly<Record<string, number[][]>>;
  /** Whether in-block latency is kept at or above linear scaling from 1 core. */
  readonly linearFloor: boolean;
}

/** The base assembly of `raw`: measurements only, every correction at its identity. */
export function baseAssembly(raw: RawCompile): Assembly {
  const { versions, coreCounts } = raw.settings;
  return {
    raw,
    fitted: fitRunCost(raw.layers, raw.tensors, versions, coreCounts),
    endCostScale: {},
    linearFloor: false,
  };
}

/** The profile the assembly describes so far (without creation time and compile record). */
export function renderProfile(a: Assembly): ModelProfileData {
  const { raw } = a;
  return {
    schema: PROFILE_SCHEMA,
    model: raw.model,
    modelHash: raw.key.modelHash,
    machine: raw.machine,
    ortVersion: raw.key.ortVersion,
    source: 'compiled',
    ...(raw.key.pins ? { pins: raw.key.pins } : {}),
    coreCounts: [...raw.settings.coreCounts],
    levels: [...raw.levels],
    layers: layerProfiles(a),
    runCost: { ...a.fitted },
    tensors: [...raw.tensors],
  };
}

/** Layer profiles with the end-cost and floor corrections, pruned to the Pareto set. */
function layerProfiles(a: Assembly): LayerProfile[] {
  const { raw } = a;
  const { coreCounts, latencyTolerance, pressureTolerance } = raw.settings;
  const options = { coreCounts, levels: raw.levels, latencyTolerance, pressureTolerance };
  return raw.layers.map((layer, k) => {
    const candidates = layer.single.map((v) => correctedVersion(a, v, layer, raw.layers[k + 1], k));
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

function correctedVersion(
  a: Assembly,
  v: VersionProfile,
  layer: RawLayer,
  next: RawLayer | undefined,
  k: number,
): VersionProfile {
  const split = splitBoundary(v, layer, next, a.raw.tensors, a.fitted[v.version]);
  const scaled = applyScale(
    split,
    a.endCostScale[v.version]?.map((perLayer) => perLayer[k]),
  );
  return a.linearFloor ? noFasterThanLinear(scaled, a.raw.settings.coreCounts) : scaled;
}
