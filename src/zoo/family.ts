/**
 * What a model family of the zoo is: everything about one reference model in one place, its
 * graph builder, published sizes, MLPerf target and what the simulator needs to model it.
 * Each family is one file in `families/` that exports `family` (decision 0012).
 */
import type { Net } from './net.js';
import type { LayerShape } from './shapes.js';
import { VeltairError } from '../errors/index.js';

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

export interface BuildOptions {
  /** Seed of the weight generator; the same seed gives byte-identical models. Default 1. */
  seed?: number;
  /** BERT sequence length. Default 128. */
  seqLen?: number;
  /** Square input side for the CNNs (default 224, Tiny YOLOv2 416); must be a multiple of 32. */
  imageSize?: number;
}

/**
 * Where the simulator's 64-core profile of a family comes from: the latencies the shared
 * calibration measured for the model, or the scaling model fitted to them applied to the
 * family's layer shapes.
 */
export type SimulatorData =
  | {
      /** The calibration's name for the model (`data/calibration/<machine>/<name>.layers.csv`). */
      calibrationModel: string;
      /** The calibration's rows of the model are out of execution order; by input size, largest first, they follow the stages. */
      sortRowsByInputSize?: boolean;
    }
  | {
      /**
       * One shape per Conv, Gemm or MatMul of the graph at the default input size, in the
       * order the graph runs them (a test checks them against the built graph, layer by layer).
       */
      layerShapes(): LayerShape[];
    };

export interface ModelFamily {
  /** The model's name everywhere (repository folder, workloads, profiles); its file is `families/<name>.ts`. */
  name: string;
  /**
   * Where the family stands in the zoo's lists (`zoo list`, `zoo build`'s default, the names in
   * errors), ascending; unique. Steps of ten leave room to insert a family between two others.
   */
  listOrder: number;
  description: string;
  published: PublishedFigures;
  /** Graph inputs and outputs at the default input size (batch 1). */
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** MLPerf Inference server-scenario latency target, where MLPerf defines one for the model. */
  qosTargetMs: number | null;
  opset: number;
  /** Declares the graph's inputs, layers and outputs on `net`; checks the sizes it is given. */
  build(net: Net, options: BuildOptions): void;
  simulator: SimulatorData;
}

/** Every op the CNN families use exists at opset 13. */
export const CNN_OPSET = 13;

/** Default side of the ImageNet classifiers' input. */
export const IMAGENET_SIDE = 224;

export const imageSpec = (name: string, side: number): TensorSpec => ({
  name,
  datatype: 'FP32',
  shape: [1, 3, side, side],
});

/** What sets one ImageNet classifier apart from the others; `imageNetClassifier` adds the rest. */
export type ClassifierFields = Pick<
  ModelFamily,
  'name' | 'listOrder' | 'description' | 'published' | 'qosTargetMs' | 'simulator'
> & {
  /** The network from the image to the 1000 logits. */
  body: (net: Net, image: string) => string;
};

/**
 * An ImageNet classifier family: `input` [1, 3, 224, 224] (side `imageSize` when built at
 * another size) through `body` to `logits` [1, 1000], at the CNN opset.
 */
export function imageNetClassifier({ body, ...fields }: ClassifierFields): ModelFamily {
  return {
    ...fields,
    inputs: [imageSpec('input', IMAGENET_SIDE)],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 1000] }],
    opset: CNN_OPSET,
    build: (net, options) => {
      const side = checkImageSize(options.imageSize ?? IMAGENET_SIDE);
      net.output(body(net, net.input('input', [1, 3, side, side])), 'logits');
    },
  };
}

/** CNN input sides are multiples of 32 so that every stride-2 stage divides evenly. */
export function checkImageSize(side: number): number {
  checkSize('imageSize', side, 32, 4096);
  if (side % 32 !== 0)
    throw new VeltairError('invalid_argument', `imageSize must be a multiple of 32 (got ${side})`);
  return side;
}

export function checkSize(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VeltairError(
      'invalid_argument',
      `${what} must be an integer in [${min}, ${max}] (got ${value})`,
    );
  }
  return value;
}
