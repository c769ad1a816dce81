/**
 * The zoo's families, found when this module loads: every module of this folder but this one and
 * the tests is a family file exporting `family` (decision 0012). Adding a family is adding its
 * file (and its test); nothing else names it.
 */
import { readdirSync } from 'node:fs';
import { VeltairError } from '../../errors/index.js';
import type { ModelFamily } from '../family.js';

/** A module of the families folder: its file name and what it exports. */
export interface FamilyModule {
  file: string;
  exports: Readonly<Record<string, unknown>>;
}

export function isFamilyFile(file: string): boolean {
  return file.endsWith('.js') && !file.endsWith('.test.js') && file !== 'index.js';
}

type Check = [path: string, ok: (value: unknown) => boolean, expected: string];

const isText = (v: unknown) => typeof v === 'string' && v.length > 0;
const isPositive = (v: unknown) => typeof v === 'number' && v > 0 && Number.isFinite(v);
const isFunction = (v: unknown) => typeof v === 'function';
const isTensorList = (v: unknown) =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((t: { name?: unknown; shape?: unknown }) => isText(t?.name) && Array.isArray(t?.shape));

/** Measured by the calibration or fitted from shapes: exactly one of the two. */
const isSimulatorData = (v: unknown) => {
  if (typeof v !== 'object' || v === null) return false;
  const data = v as { calibrationModel?: unknown; layerShapes?: unknown };
  return isText(data.calibrationModel) !== isFunction(data.layerShapes);
};

/**
 * What tsc cannot check: a family file compiles on its own, so one that exports its object
 * under another name, or builds it loosely typed, is caught here, when the zoo loads.
 */
const CHECKS: readonly Check[] = [
  ['name', isText, 'a non-empty string'],
  ['listOrder', Number.isFinite, 'a number'],
  ['description', isText, 'a non-empty string'],
  ['published.parameters', isPositive, 'a positive number'],
  ['published.macs', isPositive, 'a positive number'],
  ['published.source', isText, 'a non-empty string'],
  ['inputs', isTensorList, 'a non-empty list of tensors'],
  ['outputs', isTensorList, 'a non-empty list of tensors'],
  ['qosTargetMs', (v) => v === null || isPositive(v), 'a positive number or null'],
  ['opset', Number.isInteger, 'an integer'],
  ['build', isFunction, 'a function'],
  ['simulator', isSimulatorData, '{ calibrationModel } or { layerShapes() }, not both'],
];

function valueAt(object: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (v, key) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined),
      object,
    );
}

function checkFamily({ file, exports }: FamilyModule): ModelFamily {
  const family = exports.family;
  if (typeof family !== 'object' || family === null)
    throw new VeltairError('zoo_family_invalid', `zoo family ${file}: exports no 'family' object`);
  for (const [path, ok, expected] of CHECKS) {
    if (!ok(valueAt(family, path)))
      throw new VeltairError('zoo_family_invalid', `zoo family ${file}: '${path}' must be ${expected}`);
  }
  return family as ModelFamily;
}

/** Two families may share neither a name nor a place in the lists. */
function checkUnique(families: readonly ModelFamily[], files: readonly string[]): void {
  for (const key of ['name', 'listOrder'] as const) {
    const seen = new Map<unknown, string>();
    families.forEach((f, k) => {
      const other = seen.get(f[key]);
      if (other !== undefined)
        throw new VeltairError(
          'zoo_family_invalid',
          `zoo families ${other} and ${files[k]} both have ${key} ${JSON.stringify(f[key])} (a stale build? npm run clean)`,
        );
      seen.set(f[key], files[k]);
    });
  }
}

/** The families the modules export, checked, in list order; an error names the file and the field. */
export function checkFamilies(modules: readonly FamilyModule[]): ModelFamily[] {
  const families = modules.map(checkFamily);
  checkUnique(
    families,
    modules.map((m) => m.file),
  );
  families.forEach((f, k) => {
    if (modules[k].file !== `${f.name}.js`)
      throw new VeltairError(
        'zoo_family_invalid',
        `zoo family ${modules[k].file}: a family's file is named after it ('${f.name}.ts')`,
      );
  });
  return [...families].sort((a, b) => a.listOrder - b.listOrder);
}

/** Imports every family module of `folder` and checks what they export. */
export async function discoverFamilies(folder: URL): Promise<ModelFamily[]> {
  const files = readdirSync(folder).filter(isFamilyFile).sort();
  const modules = await Promise.all(
    files.map(async (file) => ({
      file,
      exports: (await import(new URL(file, folder).href)) as FamilyModule['exports'],
    })),
  );
  return checkFamilies(modules);
}

/** Every family of the zoo, in list order. */
export const FAMILIES: readonly ModelFamily[] = await discoverFamilies(new URL('./', import.meta.url));
