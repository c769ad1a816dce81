/**
 * A model repository in Triton's layout: `<repo>/<model>/<version>/model.onnx`, the highest
 * numeric version served, and `<repo>/<model>/config.json` with what the file cannot say (the
 * QoS target, the queue limit). A model that cannot be served gets state UNAVAILABLE and the
 * reason; the others serve.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MEASURING_PROTOCOL,
  machineFingerprint,
  machineKey,
  readProfileFor,
  staleReason,
  type ProfileKey,
} from '../compile/index.js';
import { ortVersion } from '../partition/index.js';
import { type ModelProfileData } from '../profile/index.js';
import {
  GraphIndex,
  ORT_TYPE_NAME,
  decodeModel,
  modelHash,
  tensorTypeOf,
  type ModelProto,
  type ValueInfoProto,
} from '../onnx/index.js';
import { unprofiledModelSpec, type LiveModelSpec } from '../runtime/index.js';
import { servedGraph, type PinnedValues, type ShapeOverrides } from '../partition/index.js';
import { datatypeOf } from '../load/index.js';
import type { TensorMetadata } from './tensors.js';

/** Names a model may have: they become a folder and a URL segment, never a path. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isModelName(name: string): boolean {
  return MODEL_NAME.test(name) && !name.includes('..');
}

/** `config.json`: every field optional. */
export interface ModelSettings {
  /** Latency target of one query, from arrival to answer (default: the workloads' rule). */
  readonly qosTargetMs?: number;
  /** Queries of this model waiting or running beyond which new ones are rejected at once. */
  readonly maxQueue: number;
  /** Share of the load this model is expected to get, for the policy (default 1). */
  readonly weight: number;
  /** Shapes that pin inputs' symbolic dims: the model is served, measured and checked at them. */
  readonly inputShapes: ShapeOverrides;
  /**
   * Inputs fixed to these values (row-major elements): requests must send them, and the `If`s
   * they decide are served as the branches they take.
   */
  readonly inputValues: PinnedValues;
}

export const DEFAULT_MAX_QUEUE = 64;

export type ModelState = 'READY' | 'LOADING' | 'UNLOADING' | 'UNAVAILABLE';

export interface RepositoryModel {
  readonly name: string;
  readonly version: string;
  state: ModelState;
  reason: string;
  readonly settings: ModelSettings;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
  /** What the runtime serves, when the model could be read. */
  readonly spec?: LiveModelSpec;
  /** `compiled` (a profile of this machine) or `estimated` (served whole, measured at start). */
  readonly profile: 'compiled' | 'estimated' | 'none';
}

/** Every model folder of `dir` (or those named in `only`), read and checked; none of them throws. */
export async function scanRepository(
  dir: string,
  cpus: number,
  only?: readonly string[],
): Promise<RepositoryModel[]> {
  const folders = (await modelFolders(dir)).filter((name) => !only || only.includes(name));
  const missing = (only ?? []).filter((name) => !folders.includes(name));
  if (missing.length > 0) throw new Error(`model repository ${dir} has no model ${missing.join(', ')}`);
  const out: RepositoryModel[] = [];
  for (const name of folders) out.push(await readRepositoryModel(dir, name, cpus));
  return out;
}

/** The model folders of repository `dir`, sorted. */
export async function modelFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: Error) => {
    throw new Error(`model repository ${dir}: ${err.message}`);
  });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** A model known by its name only: being read, or unreadable for `reason`. */
export function unreadModel(name: string, state: ModelState, reason = '', version = ''): RepositoryModel {
  return {
    name,
    version,
    state,
    reason,
    settings: DEFAULT_SETTINGS,
    inputs: [],
    outputs: [],
    profile: 'none',
  };
}

/** Model `name` of repository `dir`, read and checked (state UNAVAILABLE and the reason when it cannot be served). */
export async function readRepositoryModel(dir: string, name: string, cpus: number): Promise<RepositoryModel> {
  const unavailable = (reason: string, version = '') => unreadModel(name, 'UNAVAILABLE', reason, version);
  if (!isModelName(name)) return unavailable('a model name is letters, digits, _, . and - only');
  let settings: ModelSettings;
  try {
    settings = await readSettings(join(dir, name, 'config.json'));
  } catch (err) {
    return unavailable(`config.json: ${(err as Error).message}`);
  }
  const version = await latestVersion(join(dir, name));
  if (version === undefined) return unavailable('no <version>/model.onnx in its folder');
  const path = join(dir, name, version, 'model.onnx');
  try {
    const bytes = await readFile(path);
    const file = decodeModel(bytes, path);
    const shapes = settings.inputShapes;
    const pins = settings.inputValues;
    // Throws when a shape or a value pinned by the config does not fit its input.
    const model = await servedGraph(file, shapes, pins);
    if (!model.graph) throw new Error(`${path}: the model has no graph`);
    const inputs = new GraphIndex(model.graph).feedInputs.map(metadataOf);
    const outputs = model.graph.output.map(metadataOf);
    // The compiler measures symbolic dims at 1: its profile describes other pinned shapes wrongly.
    const compiled = pinnedAsCompiled(file, shapes)
      ? await compiledProfile(path, modelHash(bytes), pins)
      : undefined;
    const spec: LiveModelSpec = compiled
      ? { name, path, profile: compiled, shapes, pins }
      : unprofiledModelSpec(name, path, model, cpus, shapes, pins);
    return {
      name,
      version,
      state: 'READY',
      reason: '',
      settings,
      inputs,
      outputs,
      spec,
      profile: compiled ? 'compiled' : 'estimated',
    };
  } catch (err) {
    return unavailable((err as Error).message, version);
  }
}

const DEFAULT_SETTINGS: ModelSettings = {
  maxQueue: DEFAULT_MAX_QUEUE,
  weight: 1,
  inputShapes: new Map(),
  inputValues: new Map(),
};

/** The `config.json` of the model folder `folder` (defaults when it has none). */
export async function readModelSettings(folder: string): Promise<ModelSettings> {
  const path = join(folder, 'config.json');
  return readSettings(path).catch((err: Error) => {
    throw new Error(`${path}: ${err.message}`);
  });
}

async function readSettings(path: string): Promise<ModelSettings> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return DEFAULT_SETTINGS;
  const raw = JSON.parse(text) as Record<string, unknown>;
  const positive = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`'${key}' must be a positive number`);
    return v;
  };
  const maxQueue = positive('maxQueue');
  if (maxQueue !== undefined && !Number.isInteger(maxQueue)) throw new Error("'maxQueue' must be an integer");
  return {
    qosTargetMs: positive('qosTargetMs'),
    maxQueue: maxQueue ?? DEFAULT_MAX_QUEUE,
    weight: positive('weight') ?? 1,
    inputShapes: inputShapesOf(raw.inputShapes),
    inputValues: inputValuesOf(raw.inputValues),
  };
}

/** `"inputValues": {"<input>": 16000 | [v1, v2, ...]}`. */
function inputValuesOf(raw: unknown): PinnedValues {
  if (raw === undefined) return new Map();
  const invalid = () =>
    new Error('\'inputValues\' maps input names to a number or an array of numbers, e.g. {"rate": 16000}');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid();
  const values = new Map<string, number[]>();
  for (const [name, v] of Object.entries(raw)) {
    const list: unknown = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isFinite(x)))
      throw invalid();
    values.set(name, list as number[]);
  }
  return values;
}

/** `"inputShapes": {"<input>": [d1, d2, ...]}`. */
function inputShapesOf(raw: unknown): ShapeOverrides {
  if (raw === undefined) return new Map();
  const invalid = () =>
    new Error(
      '\'inputShapes\' maps input names to arrays of non-negative integers, e.g. {"x": [1, 3, 224, 224]}',
    );
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid();
  const shapes = new Map<string, number[]>();
  for (const [name, dims] of Object.entries(raw)) {
    if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw invalid();
    shapes.set(name, dims as number[]);
  }
  return shapes;
}

/** Whether every pinned input has the shape the compiler measured it at (symbolic dims 1). */
function pinnedAsCompiled(model: ModelProto, shapes: ShapeOverrides): boolean {
  const inputs = model.graph?.input ?? [];
  return [...shapes].every(([name, dims]) => {
    const input = inputs.find((v) => v.name === name);
    const declared = input?.type ? tensorTypeOf(input.type)?.shape : undefined;
    const measured = declared?.map((d) => (typeof d === 'number' ? d : 1));
    return measured !== undefined && measured.join(',') === dims.join(',');
  });
}

async function latestVersion(folder: string): Promise<string | undefined> {
  const versions = (await readdir(folder, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && /^\d+$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (await stat(join(folder, v, 'model.onnx')).catch(() => undefined)) return v;
  }
  return undefined;
}

function metadataOf(v: ValueInfoProto): TensorMetadata {
  const type = v.type ? tensorTypeOf(v.type) : undefined;
  if (!type) throw new Error(`'${v.name}' is not a tensor`);
  const ortType = ORT_TYPE_NAME[type.elemType];
  if (!ortType)
    throw new Error(`'${v.name}' has an element type ONNX Runtime does not serve (${type.elemType})`);
  return {
    name: v.name,
    datatype: datatypeOf(ortType),
    shape: (type.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  };
}

/**
 * The model's compiled profile, when the compiler would reuse it for this very file at these
 * pins on this machine (`staleReason`: an older protocol may describe another graph, decision
 * 0015 added layers). A `--quick` profile serves too.
 */
async function compiledProfile(
  path: string,
  hash: string,
  pins: PinnedValues,
): Promise<ModelProfileData | undefined> {
  const profile = await readProfileFor(path);
  const key: ProfileKey = {
    modelHash: hash,
    machineKey: machineKey(machineFingerprint(), ortVersion()),
    ortVersion: ortVersion(),
    mode: 'quick',
    protocol: MEASURING_PROTOCOL,
    pins: Object.fromEntries([...pins].map(([name, values]) => [name, [...values]])),
  };
  return staleReason(profile, key) === undefined ? profile : undefined;
}
