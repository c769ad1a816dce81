import { DataType, countMacs, countParameters, tensorTypeOf, type ModelProto } from '../onnx/index.js';
import { FAMILIES } from './families/index.js';
import type { BuildOptions, ModelFamily, PublishedFigures, TensorSpec } from './family.js';
import { Net } from './net.js';
import { VeltairError } from '../errors/index.js';

/**
 * A family's name. The families are found when the zoo loads (decision 0012), so the type
 * cannot list them: `isZooModelName` and `buildZooModel` check a name against them.
 */
export type ZooModelName = string;

export const ZOO_MODEL_NAMES: readonly ZooModelName[] = FAMILIES.map((f) => f.name);

/** What `zoo list` shows of a family: its description, published size, tensors and MLPerf target. */
export interface ZooModelInfo {
  name: ZooModelName;
  description: string;
  published: PublishedFigures;
  /** Graph inputs and outputs at the default input size (batch 1). */
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** MLPerf Inference server-scenario latency target, where MLPerf defines one for the model. */
  qosTargetMs: number | null;
}

export const ZOO_MODELS: readonly ZooModelInfo[] = FAMILIES.map(
  ({ name, description, published, inputs, outputs, qosTargetMs }) => ({
    name,
    description,
    published,
    inputs,
    outputs,
    qosTargetMs,
  }),
);

export interface BuiltModel {
  name: ZooModelName;
  model: ModelProto;
  /** Counted from the graph's initializers (see `countParameters`). */
  parameterCount: number;
  /** Counted from the graph's shapes (see `countMacs`). */
  macs: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export function isZooModelName(name: string): boolean {
  return ZOO_MODEL_NAMES.includes(name);
}

/** The family of that name; an unknown name is an error that lists the known ones. */
export function zooFamily(name: ZooModelName): ModelFamily {
  const family = FAMILIES.find((f) => f.name === name);
  if (!family)
    throw new VeltairError(
      'unknown_model',
      `unknown zoo model '${String(name)}' (known: ${ZOO_MODEL_NAMES.join(', ')})`,
    );
  return family;
}

export function zooModelInfo(name: ZooModelName): ZooModelInfo {
  return ZOO_MODELS[FAMILIES.indexOf(zooFamily(name))];
}

/** Builds one reference model in memory with seeded random weights; counts come from the graph. */
export function buildZooModel(name: ZooModelName, options: BuildOptions = {}): BuiltModel {
  const family = zooFamily(name);
  const net = new Net(name, options.seed ?? 1);
  family.build(net, options);
  const model = net.build(family.opset);
  return {
    name,
    model,
    parameterCount: countParameters(model),
    macs: countMacs(model),
    inputs: specsOf(model.graph?.input ?? []),
    outputs: specsOf(model.graph?.output ?? []),
  };
}

function specsOf(
  values: readonly { name: string; type?: Parameters<typeof tensorTypeOf>[0] }[],
): TensorSpec[] {
  return values.map((v) => {
    const t = v.type ? tensorTypeOf(v.type) : undefined;
    return {
      name: v.name,
      datatype: t?.elemType === DataType.INT64 ? 'INT64' : 'FP32',
      shape: (t?.shape ?? []).map(Number),
    };
  });
}

/**
 * A small, quick build for other modules' tests: the real architecture at a reduced input size
 * (64x64 images, 16 tokens), so ORT runs it in milliseconds. The parameter count still matches
 * the full model except where a layer's width depends on the input size (VGG-19's first FC).
 */
export function buildTestModel(name: ZooModelName = 'resnet18', options: BuildOptions = {}): BuiltModel {
  return buildZooModel(name, { imageSize: 64, seqLen: 16, ...options });
}
