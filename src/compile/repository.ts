import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { modelFileError } from '../onnx/index.js';
import type { ModelProfileData } from '../profile/index.js';
import { profilePathFor, readJson } from './store.js';

/**
 * The models a path names: an `.onnx` file itself, or every `<dir>/<model>/<v>/model.onnx` of
 * a model repository (the highest numeric version of each model), sorted by model name.
 */
export async function findModels(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw modelFileError(path, 'no such file or directory');
  if (info.isFile()) return [path];
  const found: string[] = [];
  for (const model of (await readdir(path, { withFileTypes: true })).filter((e) => e.isDirectory())) {
    const dir = join(path, model.name);
    const versions = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && /^\d+$/.test(e.name))
      .map((e) => Number(e.name))
      .sort((a, b) => b - a);
    for (const v of versions) {
      const file = join(dir, String(v), 'model.onnx');
      if (await stat(file).catch(() => undefined)) {
        found.push(file);
        break;
      }
    }
  }
  if (found.length === 0) {
    throw modelFileError(path, 'not a model repository (no <model>/<version>/model.onnx inside)');
  }
  return found.sort();
}

/** The stored profile of a model file, if any (no key check: see staleReason for that). */
export async function readProfileFor(modelPath: string): Promise<ModelProfileData | undefined> {
  return readJson<ModelProfileData>(profilePathFor(modelPath));
}
