/**
 * A compile's raw measurements: everything the profile is assembled from, kept so that the
 * assembly can be replayed offline (`veltair compile --replay`) and each correction stage's
 * effect on the held-out error measured without measuring again.
 */
import { readFile } from 'node:fs/promises';
import { VeltairError } from '../errors/index.js';
import type { MachineFingerprint, QualityReport, QualitySample, TensorEdge } from '../profile/index.js';
import type { CompileMode, MeasuredBlock, ProfileKey, RawLayer } from './store.js';

export const RAW_SCHEMA = 'veltair.raw/1';

/** The settings the assembly reads (the rest only decided what was measured). */
export interface AssemblySettings {
  mode: CompileMode;
  versions: string[];
  coreCounts: number[];
  intensities: number[];
  sensitivityCores: number;
  repetitions: number;
  generatorThreads: number;
  latencyTolerance: number;
  pressureTolerance: number;
}

export interface RawCompile {
  schema: typeof RAW_SCHEMA;
  model: string;
  key: ProfileKey;
  machine: MachineFingerprint;
  settings: AssemblySettings;
  /** The calibrated interference levels, one per intensity. */
  levels: number[];
  layers: RawLayer[];
  coarse: MeasuredBlock[];
  tensors: TensorEdge[];
  /** The held-out check as it ran: its samples carry what was measured. */
  quality?: QualityReport;
  disturbedRounds?: number;
  compileMs: number;
  createdAt: string;
}

export function rawPathFor(profilePath: string): string {
  return profilePath.replace(/\.json$/, '.raw.json');
}

/** The held-out samples of a raw compile: the blocks the profile never saw, as measured. */
export function heldOutSamples(raw: RawCompile): readonly QualitySample[] {
  return raw.quality?.samples ?? [];
}

export async function readRawCompile(path: string): Promise<RawCompile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VeltairError(
      'profile_unavailable',
      `${path}: ${code === 'ENOENT' ? 'no such file' : 'cannot read'}`,
    );
  }
  let raw: Partial<RawCompile>;
  try {
    raw = JSON.parse(text) as Partial<RawCompile>;
  } catch (err) {
    throw new VeltairError('profile_unavailable', `${path}: not JSON (${(err as Error).message})`);
  }
  if (raw.schema !== RAW_SCHEMA || !Array.isArray(raw.layers) || !Array.isArray(raw.coarse)) {
    throw new VeltairError(
      'profile_unavailable',
      `${path}: not a compile's raw measurements (${RAW_SCHEMA})`,
    );
  }
  return raw as RawCompile;
}
