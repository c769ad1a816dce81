/**
 * Fixtures for live-runtime tests: small models written as a repository entry with a synthetic
 * profile (the runtime measures the real latencies itself; the profile only has to describe the
 * model's layers and versions).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROFILE_SCHEMA, type ModelProfileData } from '../profile/index.js';
import { encodeModel, type ModelProto } from '../onnx/index.js';
import { discoverLayers } from '../partition/index.js';
import type { LiveModelSpec } from './live.js';

/** A profile of `model`'s layers with the two non-spinning versions, 100 us a layer on one core. */
export function syntheticProfileOf(name: string, model: ModelProto): ModelProfileData {
  return {
    schema: PROFILE_SCHEMA,
    model: name,
    modelHash: `synthetic-${name}`,
    machine: { cpuModel: 'synthetic', usableCores: 2, cacheBytes: {} },
    ortVersion: 'synthetic',
    source: 'synthetic',
    coreCounts: [1, 2],
    levels: [0],
    layers: discoverLayers(model).map((l, index) => ({
      index,
      name: l.anchor,
      ops: [...l.ops],
      macs: l.macs,
      versions: [
        { version: 'all', soloUs: [100, 60], boundaryUs: [1, 1], slowdown: [1], pressure: 0 },
        { version: 'extended', soloUs: [110, 65], boundaryUs: [1, 1], slowdown: [1], pressure: 0 },
      ],
    })),
  };
}

/** Writes `model` as `<dir>/<name>/1/model.onnx` and returns it with its synthetic profile. */
export async function liveModelSpec(dir: string, name: string, model: ModelProto): Promise<LiveModelSpec> {
  const folder = join(dir, name, '1');
  await mkdir(folder, { recursive: true });
  const path = join(folder, 'model.onnx');
  await writeFile(path, encodeModel(model));
  return { name, path, profile: syntheticProfileOf(name, model) };
}
