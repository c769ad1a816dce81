/**
 * The 64-core calibration (AMD Threadripper 3990X, VELTAIR artifact): per conv layer, its
 * shape and its solo latency on 8, 16, ..., 64 cores. Reading and parsing only.
 */
import { readFileSync } from 'node:fs';
import type { LayerShape } from '../zoo/index.js';
import { parseShapeRow } from './shapes.js';
import { VeltairError } from '../errors/index.js';

export const CALIBRATION_NAME = 'threadripper-3990x';
export const CALIBRATION_CORES = [8, 16, 24, 32, 40, 48, 56, 64];

/** One measured layer; `latencyUs[k]` is at CALIBRATION_CORES[k], undefined where not measured. */
export interface MeasuredLayer {
  model: string;
  row: number;
  shape: LayerShape;
  latencyUs: (number | undefined)[];
}

export function calibrationDir(): URL {
  return new URL(`../../data/calibration/${CALIBRATION_NAME}/`, import.meta.url);
}

/** Reads `<Model>.layers.csv` + `<Model>.latency_us.csv` for ResNet50 and GoogLeNet. */
export function readCalibration(dir: URL = calibrationDir()): MeasuredLayer[] {
  return ['ResNet50', 'GoogLeNet'].flatMap((model) => readModel(dir, model));
}

function readModel(dir: URL, model: string): MeasuredLayer[] {
  const lines = (name: string) =>
    readFileSync(new URL(name, dir), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
  const shapes = lines(`${model}.layers.csv`);
  const times = lines(`${model}.latency_us.csv`);
  if (shapes.length !== times.length)
    throw new VeltairError(
      'calibration_invalid',
      `${model}: ${shapes.length} shape rows but ${times.length} latency rows`,
    );
  return shapes.map((row, i) => {
    const us = times[i].split(',').map(Number);
    if (us.some((x) => !(x > 0)))
      throw new VeltairError('calibration_invalid', `${model}.latency_us.csv row ${i + 1}: bad latency`);
    return {
      model,
      row: i,
      shape: parseShapeRow(row),
      latencyUs: CALIBRATION_CORES.map((_, k) => us[k]),
    };
  });
}
