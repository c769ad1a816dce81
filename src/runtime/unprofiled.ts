/**
 * Serving a model nobody has compiled yet: a profile that only describes its layers, with
 * latencies estimated from their multiply-accumulates, served whole. The runtime measures the
 * whole model's latency on its own workers before any query is scheduled, and policies plan
 * with that measurement (`ServedModel.useMeasured`), so the estimate only has to be of the right
 * shape.
 */
import { machineFingerprint } from '../compile/index.js';
import { ortVersion } from '../partition/index.js';
import { PROFILE_SCHEMA, type ModelProfileData } from '../profile/index.js';
import type { ModelProto } from '../onnx/index.js';
import { discoverLayers } from '../partition/index.js';
import type { PinnedValues, ShapeOverrides } from '../partition/index.js';
import type { LiveModelSpec } from './live.js';

/** A rough CPU core's throughput for the estimate (multiply-accumulates per us). */
const MACS_PER_US = 10_000;
/** What a layer costs besides its arithmetic (us). */
const LAYER_US = 5;

/** Core counts an estimated profile describes: powers of two up to `cpus`. */
function coreCountsUpTo(cpus: number): number[] {
  const out: number[] = [];
  for (let c = 1; c <= cpus; c *= 2) out.push(c);
  return out;
}

/** `model`'s layers with one version (`all`) and latencies from their MACs, near-linear in cores. */
export function estimatedProfile(name: string, model: ModelProto, cpus: number): ModelProfileData {
  const coreCounts = coreCountsUpTo(cpus);
  return {
    schema: PROFILE_SCHEMA,
    model: name,
    modelHash: `estimated-${name}`,
    machine: machineFingerprint(),
    ortVersion: ortVersion(),
    source: 'estimated',
    coreCounts,
    levels: [0],
    layers: discoverLayers(model).map((l, index) => {
      const us = LAYER_US + l.macs / MACS_PER_US;
      return {
        index,
        name: l.anchor,
        ops: [...l.ops],
        macs: l.macs,
        versions: [
          {
            version: 'all',
            soloUs: coreCounts.map((c) => us / c ** 0.8),
            boundaryUs: coreCounts.map(() => 0),
            slowdown: [1],
            pressure: 0,
          },
        ],
      };
    }),
  };
}

/**
 * A model file without a compiled profile, as the live runtime serves it: whole, measured in
 * place. `served` is its graph as served at `shapes` and `pins` (`servedGraph`).
 */
export function unprofiledModelSpec(
  name: string,
  path: string,
  served: ModelProto,
  cpus: number,
  shapes: ShapeOverrides = new Map(),
  pins: PinnedValues = new Map(),
): LiveModelSpec {
  return { name, path, profile: estimatedProfile(name, served, cpus), whole: true, shapes, pins };
}
