/**
 * Where profiles live and when one may be reused. A model's profile sits beside it:
 * `<repo>/<model>/<v>/model.onnx` -> `<repo>/<model>/<v>/profile.json` (any other file
 * `x.onnx` -> `x.profile.json`). A profile is reused only when its key matches: model hash,
 * machine fingerprint, ORT version and measuring protocol, and it is at least as thorough as
 * asked (a quick profile does not satisfy a full compile). Partial results of an interrupted
 * compile are kept per layer in `<profile>.partial` and resumed under the same key.
 */
import { readFile, writeFile, rename, rm, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PROFILE_SCHEMA, type ModelProfileData, type VersionProfile } from '../profile/index.js';

export type CompileMode = 'quick' | 'full';

export interface ProfileKey {
  modelHash: string;
  machineKey: string;
  ortVersion: string;
  mode: CompileMode;
  /** MEASURING_PROTOCOL the profile was measured under. */
  protocol: number;
  /** Pinned input values (see ModelProfileData.pins). */
  pins?: Record<string, number[]>;
}

/** Whether two sets of pinned values are the same (absent = none). */
type Pins = Readonly<Record<string, readonly number[]>> | undefined;
export function samePins(a: Pins, b: Pins): boolean {
  const text = (p: Pins) => JSON.stringify(Object.entries(p ?? {}).sort(([x], [y]) => x.localeCompare(y)));
  return text(a) === text(b);
}

/**
 * Version of how the compiler measures: raise it whenever what a measurement runs changes, so
 * that profiles measured the old way are rebuilt rather than reused. What each number measured:
 * docs/compiler.md, "Profile files and the cache".
 */
export const MEASURING_PROTOCOL = 6;

export function profilePathFor(modelPath: string): string {
  const file = basename(modelPath);
  if (file === 'model.onnx') return join(dirname(modelPath), 'profile.json');
  return join(dirname(modelPath), `${file.replace(/\.onnx$/i, '')}.profile.json`);
}

export function partialPathFor(profilePath: string): string {
  return `${profilePath}.partial`;
}

/** How `data` was measured other than by `protocol` (undefined when it was by that one). */
export function protocolChange(data: ModelProfileData, protocol: number): string | undefined {
  const measured = data.compile?.protocol ?? 1;
  return measured === protocol ? undefined : `measured the way of protocol ${measured}, now ${protocol}`;
}

/** Why a stored profile cannot be reused, or undefined when it can. */
export function staleReason(data: ModelProfileData | undefined, key: ProfileKey): string | undefined {
  if (!data) return 'no profile yet';
  if (data.schema !== PROFILE_SCHEMA) return `profile schema ${String(data.schema)} is not ${PROFILE_SCHEMA}`;
  if (data.modelHash !== key.modelHash) return 'model changed';
  if (data.ortVersion !== key.ortVersion)
    return `ONNX Runtime changed (${data.ortVersion} -> ${key.ortVersion})`;
  if (data.compile?.machineKey !== key.machineKey) return 'machine changed';
  const protocolChanged = protocolChange(data, key.protocol);
  if (protocolChanged) return protocolChanged;
  if (data.compile?.mode === 'quick' && key.mode === 'full') return 'stored profile is a --quick one';
  if (!samePins(data.pins, key.pins)) return 'pinned input values changed';
  return undefined;
}

/** Reads a JSON file; undefined when missing or not JSON (a broken cache is rebuilt, not fatal). */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes via a temporary file and a rename, so an interruption never leaves half a file. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 1) + '\n');
  await rename(tmp, path);
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** A layer as measured, before the run cost is split off and versions pruned. */
export interface RawLayer {
  index: number;
  name: string;
  ops: string[];
  macs: number;
  /** Every version, run as a one-layer block: medians include that block's end costs. */
  single: VersionProfile[];
  /** Median latency (us) of the pair of blocks [k, k + 2), per version, per core count. */
  pairUs?: Record<string, number[]>;
}

/** Coarse blocks measured whole (raw medians per version, per core count). */
export interface MeasuredBlock {
  range: [number, number];
  versions: VersionProfile[];
}

/** An interrupted compile's progress: everything measured so far, under its key. */
export interface PartialProfile {
  schema: 'veltair.partial/1';
  key: ProfileKey;
  /** What was planned (versions, core counts, intensities, rounds): resumed only under the same. */
  plan: string;
  /** Generator intensities measured at, and the level each produced (calibrated once). */
  intensities: number[];
  levels: number[];
  /** One entry per layer; null where not measured yet. */
  layers: (RawLayer | null)[];
  /** Coarse blocks measured whole, alone and under the generator: every version (raw medians). */
  coarse: MeasuredBlock[];
  /** Time spent before the interruption, added to the compile time. */
  elapsedMs: number;
}

export async function readPartial(
  path: string,
  key: ProfileKey,
  plan: string,
  layerCount: number,
): Promise<PartialProfile | undefined> {
  const p = await readJson<PartialProfile>(path);
  if (p?.schema !== 'veltair.partial/1' || p.plan !== plan || p.layers?.length !== layerCount)
    return undefined;
  const same = (Object.keys(key) as (keyof ProfileKey)[]).every((k) => p.key?.[k] === key[k]);
  return same ? p : undefined;
}
