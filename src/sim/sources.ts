/**
 * Where simulated profiles come from:
 * - `threadripper-3990x`: the 64-core calibration. The zoo's families it measured (ResNet-50,
 *   GoogLeNet) use the measured per-layer latencies; the others use the scaling model fitted to
 *   them, applied to the layer shapes each family gives.
 *   The calibration measured one version per layer; other versions are derived by rules
 *   (ratios measured by this machine's compiler where a local profile exists, else defaults).
 * - `local`: the profiles `veltair compile` wrote beside the models of a repository.
 * - a path: one profile JSON file, a folder of them, or a model repository.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  PROFILE_SCHEMA,
  measuredVersions,
  upperMedian,
  type ModelProfileData,
  type VersionProfile,
} from '../profile/index.js';
import { ZOO_FAMILIES, type LayerShape, type ModelFamily } from '../zoo/index.js';
import { CALIBRATION_CORES, CALIBRATION_NAME, readCalibration, type MeasuredLayer } from './calibration.js';
import { fitScalingModel, predictLayerUs, type ScalingModel } from './scaling.js';
import { bytesOf, macsOf } from './shapes.js';
import { VeltairError } from '../errors/index.js';

export interface ProfileSource {
  /** `threadripper-3990x`, `local` or the path given. */
  name: string;
  profiles: ModelProfileData[];
  /** True where the profiles stand for the 64-core calibration machine (MLPerf targets apply). */
  calibrated64: boolean;
  /** What is measured and what is modelled, for reports. */
  notes: string[];
}

/** Interference levels of derived profiles: co-runners' memory pressure, 1 = the whole machine streaming. */
export const DERIVED_LEVELS = [0, 0.25, 0.5, 0.75, 1];

/**
 * How a version relates to the measured one. Solo latency = measured x `soloRatio`;
 * slowdown at level L = 1 + `sensitivity` x m x L; pressure per core = `intensity` x m / cores,
 * where m (0.5..2) is the layer's memory-boundness relative to the median measured layer.
 */
export interface VersionRule {
  version: string;
  soloRatio: number;
  sensitivity: number;
  intensity: number;
  why: string;
}

/**
 * Defaults where no local profile gives ratios. `all` is the measured version (blocked
 * NCHWc kernels); its sensitivity is set so that three co-runners on 48 of 64 cores
 * (level 0.75) slow it 1.8x, the VELTAIR study's figure for 4 co-located GoogLeNets.
 * `extended` (plain NCHW kernels) is assumed 20% slower alone, half as sensitive and
 * 40% lighter on shared resources: assumptions, not measurements.
 */
export const DEFAULT_VERSION_RULES: readonly VersionRule[] = [
  {
    version: 'all',
    soloRatio: 1,
    sensitivity: 0.8 / 0.75,
    intensity: 1,
    why: 'measured (3990X calibration)',
  },
  {
    version: 'extended',
    soloRatio: 1.2,
    sensitivity: 0.4 / 0.75,
    intensity: 0.6,
    why: 'derived: default ratios (no local profile)',
  },
];

/**
 * Version rules from this machine's compiled profiles, relative to a reference version (the one
 * fastest alone on the most layers): for every other version, the median over layers of its
 * solo latency ratio, and over all layers together its excess slowdown at the top level and its
 * pressure, each as a ratio of sums (a layer whose reference barely slows would make a
 * per-layer ratio explode: one ResNet-50 compile gave 13x). Every layer counts, pruned
 * versions included (`LayerProfile.dominated`): with kept versions only, a version's ratios
 * came from the few layers where it won something, 4-16 of ResNet-50's 54, and swung from 0.04x
 * to 13x between compiles. Undefined when the profiles hold one version.
 */
export function versionRulesFromLocal(profiles: readonly ModelProfileData[]): VersionRule[] | undefined {
  const reference = mostOftenFastest(profiles);
  if (reference === undefined) return undefined;
  const ratios = new Map<string, { solo: number[]; sens: [number, number]; pressure: [number, number] }>();
  for (const p of profiles) {
    const last = p.coreCounts.length - 1;
    const top = p.levels.length - 1;
    for (const layer of p.layers) {
      const versions = measuredVersions(layer);
      const ref = versions.find((v) => v.version === reference);
      if (!ref) continue;
      for (const v of versions) {
        if (v === ref) continue;
        const r = ratios.get(v.version) ?? { solo: [], sens: [0, 0], pressure: [0, 0] };
        r.solo.push(v.soloUs[last] / ref.soloUs[last]);
        if (top > 0) {
          r.sens[0] += v.slowdown[top] - 1;
          r.sens[1] += ref.slowdown[top] - 1;
        }
        r.pressure[0] += v.pressure;
        r.pressure[1] += ref.pressure;
        ratios.set(v.version, r);
      }
    }
  }
  if (ratios.size === 0) return undefined;
  const [base] = DEFAULT_VERSION_RULES;
  const rules: VersionRule[] = [{ ...base, version: reference }];
  for (const [version, r] of ratios) {
    rules.push({
      version,
      soloRatio: upperMedian(r.solo),
      sensitivity: base.sensitivity * ratioOfSums(r.sens),
      intensity: base.intensity * ratioOfSums(r.pressure),
      why: `derived: ratios to '${reference}' measured by the local compiler (${r.solo.length} layers)`,
    });
  }
  return rules;
}

/** The version fastest alone (on the most cores measured) on the most layers. */
function mostOftenFastest(profiles: readonly ModelProfileData[]): string | undefined {
  const wins = new Map<string, number>();
  for (const p of profiles) {
    for (const layer of p.layers) {
      const last = (v: VersionProfile) => v.soloUs[v.soloUs.length - 1];
      const fastest = measuredVersions(layer).reduce((best, v) => (last(v) < last(best) ? v : best));
      wins.set(fastest.version, (wins.get(fastest.version) ?? 0) + 1);
    }
  }
  let best: string | undefined;
  for (const [version, n] of wins) if (best === undefined || n > wins.get(best)!) best = version;
  return best;
}

/** sum / reference sum, 1 where the reference sum is 0 (nothing to compare against). */
function ratioOfSums([sum, referenceSum]: [number, number]): number {
  return referenceSum > 0 ? sum / referenceSum : 1;
}

const isMeasured = (f: ModelFamily) => 'calibrationModel' in f.simulator;
/** The zoo's families the calibration measured, and those whose profiles are fitted from their shapes. */
export const MEASURED_MODELS: readonly string[] = ZOO_FAMILIES.filter(isMeasured).map((f) => f.name);
export const FITTED_MODELS: readonly string[] = ZOO_FAMILIES.filter((f) => !isMeasured(f)).map((f) => f.name);

/** The 64-core profile of every zoo family: measured where the calibration has the model, fitted otherwise. */
export function calibrationProfiles(
  rules: readonly VersionRule[] = DEFAULT_VERSION_RULES,
): ModelProfileData[] {
  const measured = readCalibration();
  const fit = fitScalingModel(measured);
  const intensityScale = memoryBoundness(measured.map((m) => m.shape));
  return ZOO_FAMILIES.map((family) => {
    const { source, layers } = simulatedLayers(family, measured, fit);
    return profileOf(family.name, source, layers, rules, intensityScale);
  });
}

function simulatedLayers(
  family: ModelFamily,
  measured: readonly MeasuredLayer[],
  fit: ScalingModel,
): { source: string; layers: { shape: LayerShape; us: number[] }[] } {
  const data = family.simulator;
  if ('layerShapes' in data) {
    const layers = data.layerShapes().map((shape) => ({ shape, us: predictLayerUs(fit, shape) }));
    return { source: `fitted:${CALIBRATION_NAME}`, layers };
  }
  const rows = measuredLayers(measured, data.calibrationModel, fit);
  if (rows.length === 0)
    throw new VeltairError(
      'calibration_invalid',
      `zoo family ${family.name}: the calibration has no model '${data.calibrationModel}'`,
    );
  return {
    source: `calibration:${CALIBRATION_NAME}`,
    layers: data.sortRowsByInputSize ? byInputSize(rows) : rows,
  };
}

/** Measured rows; a missing column (GoogLeNet at 64) takes the fit's ratio to the column before. */
function measuredLayers(measured: readonly MeasuredLayer[], model: string, fit: ScalingModel) {
  return measured
    .filter((m) => m.model === model)
    .map((m) => {
      const predicted = predictLayerUs(fit, m.shape);
      const us: number[] = [];
      m.latencyUs.forEach((y, k) => us.push(y ?? us[k - 1] * (predicted[k] / predicted[k - 1])));
      return { shape: m.shape, us };
    });
}

/** Rows out of execution order (GoogLeNet's): input size, largest first, restores stage order. */
function byInputSize<T extends { shape: LayerShape }>(layers: T[]): T[] {
  return [...layers].sort((a, b) => b.shape.h - a.shape.h);
}

/** m per layer: sqrt of bytes-per-MAC over the median measured layer's, clamped to 0.5..2. */
function memoryBoundness(reference: readonly LayerShape[]): (s: LayerShape) => number {
  const ratio = (s: LayerShape) => bytesOf(s) / Math.max(1, macsOf(s));
  const mid = reference.length > 0 ? upperMedian(reference.map(ratio)) : 1;
  return (s) => Math.min(2, Math.max(0.5, Math.sqrt(ratio(s) / mid)));
}

function profileOf(
  model: string,
  source: string,
  layers: { shape: LayerShape; us: number[] }[],
  rules: readonly VersionRule[],
  boundness: (s: LayerShape) => number,
): ModelProfileData {
  const cores = CALIBRATION_CORES[CALIBRATION_CORES.length - 1];
  return {
    schema: PROFILE_SCHEMA,
    model,
    modelHash: `${source}:${model}`,
    machine: {
      cpuModel: 'AMD Ryzen Threadripper 3990X 64-Core Processor',
      usableCores: cores,
      cacheBytes: { L1d: 32 * 1024, L2: 512 * 1024, L3: 256 * 1024 * 1024 },
    },
    ortVersion: 'n/a',
    source,
    coreCounts: [...CALIBRATION_CORES],
    levels: [...DERIVED_LEVELS],
    layers: layers.map(({ shape, us }, index) => {
      const m = boundness(shape);
      return {
        index,
        name: `${model}/${index}`,
        ops: [shape.h > 1 || shape.kh > 1 ? 'Conv' : 'MatMul'],
        macs: macsOf(shape),
        versions: rules.map((r) => ({
          version: r.version,
          soloUs: us.map((t) => t * r.soloRatio),
          slowdown: DERIVED_LEVELS.map((level) => 1 + r.sensitivity * m * level),
          pressure: (r.intensity * m) / cores,
          why: r.why,
        })),
      };
    }),
  };
}

/** Reads and checks one profile file; errors name the file and the field. */
export function readProfileFile(path: string): ModelProfileData {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new VeltairError(
      'profile_unavailable',
      `${path}: not a readable JSON file (${(err as Error).message.split('\n')[0]})`,
    );
  }
  checkProfile(path, data);
  return data;
}

function checkProfile(path: string, data: unknown): asserts data is ModelProfileData {
  const fail = (what: string): never => {
    throw new VeltairError('profile_unavailable', `${path}: ${what}`);
  };
  if (typeof data !== 'object' || data === null) fail('not a profile object');
  const p = data as Partial<ModelProfileData>;
  if (p.schema !== PROFILE_SCHEMA)
    fail(`schema is ${JSON.stringify(p.schema)}, expected '${PROFILE_SCHEMA}'`);
  if (typeof p.model !== 'string') fail('model: expected a string');
  const counts = p.coreCounts;
  if (!Array.isArray(counts) || counts.length === 0) fail('coreCounts: expected a non-empty array');
  if (!Array.isArray(p.levels) || p.levels.length === 0) fail('levels: expected a non-empty array');
  if (!Array.isArray(p.layers) || p.layers.length === 0) fail('layers: expected a non-empty array');
  if (typeof p.machine?.usableCores !== 'number') fail('machine.usableCores: expected a number');
  p.layers?.forEach((l, i) => {
    if (!Array.isArray(l.versions) || l.versions.length === 0)
      fail(`layers[${i}].versions: expected a non-empty array`);
    l.versions.forEach((v, j) => {
      const at = `layers[${i}].versions[${j}]`;
      if (!Array.isArray(v.soloUs) || v.soloUs.length !== counts?.length || v.soloUs.some((x) => !(x > 0)))
        fail(`${at}.soloUs: expected ${counts?.length} positive latencies`);
      if (!Array.isArray(v.slowdown) || v.slowdown.length !== p.levels?.length)
        fail(`${at}.slowdown: expected ${p.levels?.length} entries`);
      if (typeof v.pressure !== 'number' || v.pressure < 0) fail(`${at}.pressure: expected a number >= 0`);
    });
  });
}

/** Profiles in a model repository: `<repo>/<model>/<version>/profile*.json` (last name wins per model). */
export function readRepositoryProfiles(repo: string): ModelProfileData[] {
  if (!existsSync(repo) || !statSync(repo).isDirectory())
    throw new VeltairError('profile_unavailable', `${repo}: no such model repository`);
  const out: ModelProfileData[] = [];
  for (const model of readdirSync(repo).sort()) {
    const dir = join(repo, model);
    if (!statSync(dir).isDirectory()) continue;
    const files = readdirSync(dir)
      .sort()
      .filter((v) => statSync(join(dir, v)).isDirectory())
      .flatMap((v) =>
        readdirSync(join(dir, v))
          .filter((f) => /^profile.*\.json$/.test(f))
          .sort()
          .map((f) => join(dir, v, f)),
      );
    if (files.length > 0) out.push({ ...readProfileFile(files[files.length - 1]), model });
  }
  return out;
}

/** Resolves `--profiles SRC`. */
export function loadProfileSource(src: string, repository = 'models'): ProfileSource {
  if (src === CALIBRATION_NAME) return calibrationSource(repository);
  if (src === 'local') return localSource('local', readRepositoryProfiles(repository), repository);
  if (!existsSync(src))
    throw new VeltairError(
      'profile_unavailable',
      `profile source '${src}' is neither '${CALIBRATION_NAME}', 'local' nor an existing path`,
    );
  if (statSync(src).isFile()) return localSource(src, [readProfileFile(src)], src);
  const flat = readdirSync(src)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readProfileFile(join(src, f)));
  return localSource(src, flat.length > 0 ? flat : readRepositoryProfiles(src), src);
}

function localSource(name: string, profiles: ModelProfileData[], where: string): ProfileSource {
  if (profiles.length === 0)
    throw new VeltairError(
      'profile_unavailable',
      `${where}: no compiled profiles found (compile the models first)`,
    );
  return {
    name,
    profiles,
    calibrated64: false,
    notes: [
      `profiles compiled on ${profiles[0].machine.cpuModel} (${profiles.map((p) => p.model).join(', ')})`,
    ],
  };
}

function calibrationSource(repository: string): ProfileSource {
  let local: ModelProfileData[] = [];
  try {
    local = existsSync(repository) ? readRepositoryProfiles(repository) : [];
  } catch {
    local = []; // a broken local repository must not stop the calibrated simulation
  }
  const rules = versionRulesFromLocal(local);
  return {
    name: CALIBRATION_NAME,
    profiles: calibrationProfiles(rules ?? DEFAULT_VERSION_RULES),
    calibrated64: true,
    notes: [
      `${MEASURED_MODELS.join(', ')}: measured per-layer solo latency (conv layers only)`,
      `${FITTED_MODELS.join(', ')}: fitted scaling model from layer shapes`,
      rules
        ? `versions: ${rules.map((r) => r.version).join(', ')}: ASSUMED to relate on 64 cores as on the machine that compiled ${repository} (no many-core machine has measured them)`
        : 'versions: all (measured), extended: ASSUMED 20 % slower alone, half as sensitive, 40 % lighter (no local profile; no many-core machine has measured them)',
      'interference slowdown and pressure: modelled (docs/simulator.md)',
    ],
  };
}
