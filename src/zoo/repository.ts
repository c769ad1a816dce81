import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { saveModel } from '../onnx/index.js';
import type { BuildOptions, TensorSpec } from './family.js';
import { buildZooModel, type ZooModelName } from './models.js';

/**
 * `<repo>/<model>/config.json`: what the server needs to know about a model beyond its file.
 * Every field but `name` and `platform` is optional.
 *
 * ```json
 * { "name": "resnet50", "platform": "onnxruntime", "qosTargetMs": 40,
 *   "inputs":  [{ "name": "input",  "datatype": "FP32", "shape": [1, 3, 224, 224] }],
 *   "outputs": [{ "name": "logits", "datatype": "FP32", "shape": [1, 1000] }] }
 * ```
 */
export interface ModelConfig {
  /** Equals the model's directory name. */
  name: string;
  platform: 'onnxruntime';
  /**
   * Latency target of one query, from arrival to response. The zoo leaves it out: a server sets
   * each target for the machine it runs on (the workloads' rule); MLPerf's are in `zoo list`.
   */
  qosTargetMs?: number;
  /** Share of the workload mix this model receives (relative to the others). */
  weight?: number;
  /** Waiting queries beyond which new ones are rejected. */
  maxQueue?: number;
  /** Tensors in Open Inference Protocol terms (datatype FP32, INT64, ...). */
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

export interface WrittenModel {
  name: ZooModelName;
  /** `<dir>/<model>/1/model.onnx` */
  modelPath: string;
  configPath: string;
  fileBytes: number;
  parameterCount: number;
  macs: number;
}

export interface ZooProgress {
  model: ZooModelName;
  /** 0-based position of this model in the requested list. */
  index: number;
  total: number;
  phase: 'building' | 'writing' | 'done';
  /** Present when phase is 'done'. */
  written?: WrittenModel;
}

/**
 * Writes a model repository of reference models, one at a time so only one model's weights
 * are in memory: `<dir>/<model>/1/model.onnx` and `<dir>/<model>/config.json`.
 */
export async function writeZooRepository(
  dir: string,
  names: readonly ZooModelName[],
  onProgress?: (event: ZooProgress) => void,
  options: BuildOptions = {},
): Promise<WrittenModel[]> {
  const written: WrittenModel[] = [];
  for (const [index, name] of names.entries()) {
    const report = (phase: ZooProgress['phase'], entry?: WrittenModel) =>
      onProgress?.({ model: name, index, total: names.length, phase, written: entry });
    report('building');
    const built = buildZooModel(name, options);
    report('writing');
    const modelPath = join(dir, name, '1', 'model.onnx');
    const bytes = await saveModel(built.model, modelPath);
    const config: ModelConfig = {
      name,
      platform: 'onnxruntime',
      inputs: built.inputs,
      outputs: built.outputs,
    };
    const configPath = join(dir, name, 'config.json');
    await mkdir(join(dir, name), { recursive: true });
    await writeFile(configPath, JSON.stringify(config, null, 2) + '\n');
    const entry: WrittenModel = {
      name,
      modelPath,
      configPath,
      fileBytes: bytes.length,
      parameterCount: built.parameterCount,
      macs: built.macs,
    };
    written.push(entry);
    report('done', entry);
  }
  return written;
}
