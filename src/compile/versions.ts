import { VeltairError } from '../errors/index.js';
/**
 * The versions the compiler tries on every layer: ORT configurations that change the code
 * that runs (graph optimization level) and the resources it holds (spinning). The thread count
 * is not part of a version id: it is the `coreCounts` axis of every version's profile.
 */
export interface VersionSpec {
  /** Stable id used in profiles and dispatch decisions. */
  readonly id: string;
  /** `all` adds the NCHWc blocked layout and its kernels; `extended` keeps plain NCHW kernels. */
  readonly optimization: 'all' | 'extended';
  /** Idle intra-op threads spin: lower wake-up latency, but they burn cores co-runners need. */
  readonly spinning: boolean;
}

/** In order of preference: where two versions measure alike, the earlier one is kept. */
export const VERSION_SPECS: readonly VersionSpec[] = [
  { id: 'all', optimization: 'all', spinning: false },
  { id: 'extended', optimization: 'extended', spinning: false },
  { id: 'all+spin', optimization: 'all', spinning: true },
  { id: 'extended+spin', optimization: 'extended', spinning: true },
];

/**
 * The version that does not spin and has `version`'s optimization (itself, when it does not
 * spin): on one thread there is no pool to spin, so a spinning version runs its code.
 */
export function nonSpinningSibling(
  version: VersionSpec,
  versions: readonly VersionSpec[],
): VersionSpec | undefined {
  return versions.find((v) => !v.spinning && v.optimization === version.optimization);
}

export function versionSpec(id: string): VersionSpec {
  const spec = VERSION_SPECS.find((v) => v.id === id);
  if (!spec)
    throw new VeltairError(
      'profile_unavailable',
      `unknown version '${id}' (known: ${VERSION_SPECS.map((v) => v.id).join(', ')})`,
    );
  return spec;
}
