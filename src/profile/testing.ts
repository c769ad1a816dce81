/** Test fixtures for profiles: a synthetic profile from its layers' versions alone. */
import { PROFILE_SCHEMA, type ModelProfileData, type VersionProfile } from './format.js';

export interface SyntheticProfileOptions {
  model?: string;
  /** Default [1, 2]; the machine's usable cores are the last. */
  coreCounts?: number[];
  /** Default [0, 1]. */
  levels?: number[];
}

/** A profile whose layer k has `versions[k]`, one Conv per layer, on a made-up machine. */
export function syntheticProfile(
  versions: readonly VersionProfile[][],
  options: SyntheticProfileOptions = {},
): ModelProfileData {
  const coreCounts = options.coreCounts ?? [1, 2];
  return {
    schema: PROFILE_SCHEMA,
    model: options.model ?? 'm',
    modelHash: 'h',
    machine: { cpuModel: 'x', usableCores: coreCounts[coreCounts.length - 1], cacheBytes: {} },
    ortVersion: '1.30.0',
    source: 'synthetic',
    coreCounts,
    levels: options.levels ?? [0, 1],
    layers: versions.map((layer, index) => ({
      index,
      name: `l${index}`,
      ops: ['Conv'],
      macs: 1,
      versions: layer,
    })),
  };
}
