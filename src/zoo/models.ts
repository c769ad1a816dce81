import { DataType, tensorTypeOf, type ModelProto } from '../onnx/index.js';
import { countMacs, countParameters } from '../onnx/macs.js';
import { Net } from './net.js';
import { resnet } from './architectures/resnet.js';
import { vgg19 } from './architectures/vgg.js';
import { googlenet } from './architectures/googlenet.js';
import { mobilenetv2 } from './architectures/mobilenetv2.js';
import { efficientnetB0 } from './architectures/efficientnet.js';
import { tinyYoloV2 } from './architectures/tinyyolov2.js';
import { BERT_BASE, bert } from './architectures/bert.js';

export const ZOO_MODEL_NAMES = [
  'resnet50',
  'resnet18',
  'googlenet',
  'mobilenetv2',
  'efficientnet-b0',
  'vgg19',
  'tiny-yolov2',
  'bert-base',
] as const;
export type ZooModelName = (typeof ZOO_MODEL_NAMES)[number];

/** A tensor as the Open Inference Protocol describes it (datatype names are KServe v2's). */
export interface TensorSpec {
  name: string;
  datatype: 'FP32' | 'INT64';
  shape: number[];
}

/** Published size of a reference model, and where the figures come from. */
export interface PublishedFigures {
  parameters: number;
  /** Multiply-accumulates for one inference at the default input size. */
  macs: number;
  source: string;
}

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

export interface BuildOptions {
  /** Seed of the weight generator; the same seed gives byte-identical models. Default 1. */
  seed?: number;
  /** BERT sequence length. Default 128. */
  seqLen?: number;
  /** Square input side for the CNNs (default 224, Tiny YOLOv2 416); must be a multiple of 32. */
  imageSize?: number;
}

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

const DEFAULT_SEQ_LEN = 128;
const CNN_OPSET = 13;
/** LayerNormalization needs opset 17. */
const BERT_OPSET = 17;

const image = (side: number): TensorSpec => ({ name: 'input', datatype: 'FP32', shape: [1, 3, side, side] });
const logits: TensorSpec = { name: 'logits', datatype: 'FP32', shape: [1, 1000] };
const bertInputs = (seq: number): TensorSpec[] =>
  ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({
    name,
    datatype: 'INT64',
    shape: [1, seq],
  }));

export const ZOO_MODELS: readonly ZooModelInfo[] = [
  {
    name: 'resnet50',
    description: 'ResNet-50 v1.5 (torchvision layout: stride on the 3x3 conv), 224x224 ImageNet classifier',
    published: {
      parameters: 25_557_032,
      macs: 4.09e9,
      source: 'torchvision ResNet50_Weights.IMAGENET1K_V1: num_params 25557032, 4.09 GFLOPS (multiply-adds)',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: 15,
  },
  {
    name: 'resnet18',
    description: 'ResNet-18, 224x224 ImageNet classifier',
    published: {
      parameters: 11_689_512,
      macs: 1.81e9,
      source: 'torchvision ResNet18_Weights.IMAGENET1K_V1: num_params 11689512, 1.81 GFLOPS (multiply-adds)',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: null,
  },
  {
    name: 'googlenet',
    description:
      'GoogLeNet / Inception v1 as published (5x5 branches, LRN, no BatchNorm, no auxiliary heads)',
    // The paper's "1.5 G multiply-adds" is Table 1's ops column, which lists conv1 (7x7x3 -> 64 at
    // 112x112) as 34 M where that layer costs 118 M; the other rows match this graph layer by
    // layer. The VELTAIR calibration data (shared/calibration GoogLeNet) has these same 5x5 layers.
    published: {
      parameters: 6.999e6,
      macs: 1.586e9,
      source:
        'params: OpenVINO Open Model Zoo googlenet-v1 (BVLC Caffe GoogLeNet), 6.999 M; MACs: Szegedy et al. 2015, Table 1 ops column (1502 M) with conv1 counted in full (118 M instead of 34 M) = 1.586 G',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: null,
  },
  {
    name: 'mobilenetv2',
    description: 'MobileNetV2 (width 1.0), 224x224 ImageNet classifier, ReLU6 as Clip',
    published: {
      parameters: 3_504_872,
      macs: 300e6,
      source:
        'torchvision MobileNet_V2_Weights.IMAGENET1K_V1: num_params 3504872, 0.30 GFLOPS; Sandler et al. 2018, Table 4: 300 M multiply-adds',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: 10,
  },
  {
    name: 'efficientnet-b0',
    description: 'EfficientNet-B0 with squeeze-excite, Swish as x * Sigmoid(x)',
    published: {
      parameters: 5_288_548,
      macs: 0.39e9,
      source:
        'torchvision EfficientNet_B0_Weights.IMAGENET1K_V1: num_params 5288548, 0.39 GFLOPS; Tan & Le 2019, Table 2: 5.3 M params, 0.39 B FLOPS (multiply-adds)',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: null,
  },
  {
    name: 'vgg19',
    description: 'VGG-19 (configuration E, no BatchNorm), 224x224 ImageNet classifier',
    published: {
      parameters: 143_667_240,
      macs: 19.63e9,
      source: 'torchvision VGG19_Weights.IMAGENET1K_V1: num_params 143667240, 19.63 GFLOPS (multiply-adds)',
    },
    inputs: [image(224)],
    outputs: [logits],
    qosTargetMs: null,
  },
  {
    name: 'tiny-yolov2',
    description: 'Tiny YOLOv2 for PASCAL VOC (darknet yolov2-tiny-voc.cfg), 416x416 -> 13x13x125 grid',
    published: {
      parameters: 15.8587e6,
      macs: 6.9949e9 / 2,
      source:
        'OpenVINO Open Model Zoo, yolo-v2-tiny-ava-0001 model card (tiny YOLOv2 VOC, 416x416): 15.8587 MParams, 6.9949 GFlops = 3.50 G multiply-adds; darknet site lists 6.97 Bn FLOPS',
    },
    inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 416, 416] }],
    outputs: [{ name: 'grid', datatype: 'FP32', shape: [1, 125, 13, 13] }],
    qosTargetMs: null,
  },
  {
    name: 'bert-base',
    description: 'BERT-base encoder (12 x 768, 12 heads, FFN 3072), sequence length 128 by default',
    published: {
      parameters: 110e6,
      macs: 11.2e9,
      source:
        'Devlin et al. 2019: 110 M parameters; MACs at seq 128 counting every MatMul: 12 x (4sh^2 + 8sh^2 + 2s^2h) + h^2 = 11.2 G',
    },
    inputs: bertInputs(DEFAULT_SEQ_LEN),
    outputs: [
      { name: 'last_hidden_state', datatype: 'FP32', shape: [1, DEFAULT_SEQ_LEN, 768] },
      { name: 'pooler_output', datatype: 'FP32', shape: [1, 768] },
    ],
    qosTargetMs: 130,
  },
];

export function isZooModelName(name: string): name is ZooModelName {
  return (ZOO_MODEL_NAMES as readonly string[]).includes(name);
}

export function zooModelInfo(name: ZooModelName): ZooModelInfo {
  return ZOO_MODELS.find((m) => m.name === name) as ZooModelInfo;
}

/** Builds one reference model in memory with seeded random weights; counts come from the graph. */
export function buildZooModel(name: ZooModelName, options: BuildOptions = {}): BuiltModel {
  if (!isZooModelName(name)) {
    throw new Error(`unknown zoo model '${String(name)}' (known: ${ZOO_MODEL_NAMES.join(', ')})`);
  }
  const model = construct(name, options);
  return {
    name,
    model,
    parameterCount: countParameters(model),
    macs: countMacs(model),
    inputs: specsOf(model.graph?.input ?? []),
    outputs: specsOf(model.graph?.output ?? []),
  };
}

function construct(name: ZooModelName, options: BuildOptions): ModelProto {
  const net = new Net(name, options.seed ?? 1);
  if (name === 'bert-base') {
    const seqLen = checkSize('seqLen', options.seqLen ?? DEFAULT_SEQ_LEN, 1, BERT_BASE.maxPositions);
    const { lastHiddenState, pooled } = bert(net, BERT_BASE, seqLen);
    net.output(lastHiddenState, 'last_hidden_state');
    net.output(pooled, 'pooler_output');
    return net.build(BERT_OPSET);
  }
  if (name === 'tiny-yolov2') {
    const side = checkImageSize(options.imageSize ?? 416);
    net.output(tinyYoloV2(net, net.input('image', [1, 3, side, side])), 'grid');
    return net.build(CNN_OPSET);
  }
  const input = net.input('input', [
    1,
    3,
    ...Array<number>(2).fill(checkImageSize(options.imageSize ?? 224)),
  ]);
  net.output(classifier(net, name, input), 'logits');
  return net.build(CNN_OPSET);
}

function classifier(
  net: Net,
  name: Exclude<ZooModelName, 'bert-base' | 'tiny-yolov2'>,
  input: string,
): string {
  switch (name) {
    case 'resnet50':
      return resnet(net, input, 50);
    case 'resnet18':
      return resnet(net, input, 18);
    case 'googlenet':
      return googlenet(net, input);
    case 'mobilenetv2':
      return mobilenetv2(net, input);
    case 'efficientnet-b0':
      return efficientnetB0(net, input);
    case 'vgg19':
      return vgg19(net, input);
  }
}

function checkImageSize(side: number): number {
  checkSize('imageSize', side, 32, 4096);
  if (side % 32 !== 0) throw new RangeError(`imageSize must be a multiple of 32 (got ${side})`);
  return side;
}

function checkSize(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer in [${min}, ${max}] (got ${value})`);
  }
  return value;
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
