import { IMAGENET_SIDE, imageNetClassifier } from '../family.js';
import type { Net } from '../net.js';
import { invertedResidualNetShapes, type LayerShape } from '../shapes.js';

/** Tan & Le 2019, Table 1: expansion, kernel, first stride, output channels, repeats. */
const STAGES: readonly (readonly [number, number, number, number, number])[] = [
  [1, 3, 1, 16, 1],
  [6, 3, 2, 24, 2],
  [6, 5, 2, 40, 2],
  [6, 3, 2, 80, 3],
  [6, 5, 1, 112, 3],
  [6, 5, 2, 192, 4],
  [6, 3, 1, 320, 1],
];
const STEM_CHANNELS = 32;
const HEAD_CHANNELS = 1280;

const BN_EPS = 1e-3;
/**
 * Gamma of the BatchNorms that feed a Swish. At this scale Swish acts almost like ReLU, which is
 * scale-free: an input a little larger or smaller than expected then stays so, instead of being
 * shrunk or grown again by each of the network's ~50 Swish layers.
 */
const SWISH_INPUT_GAMMA = 8;

function convBn(
  net: Net,
  x: string,
  channels: number,
  kernel: number,
  stride = 1,
  group = 1,
  gamma = SWISH_INPUT_GAMMA,
): string {
  return net.batchNorm(
    net.conv(x, channels, kernel, { stride, pad: (kernel - 1) / 2, group }),
    BN_EPS,
    gamma,
  );
}

/**
 * Squeeze-and-excitation: global pool, 1x1 reduce + Swish, 1x1 expand + Sigmoid, channel scaling.
 * The expand weights start small so gates sit near sigmoid(0) = 0.5: random gates far from that
 * would scale each block by an unpredictable factor, and the factors compound over 16 blocks.
 */
function squeezeExcite(net: Net, x: string, squeezeChannels: number): string {
  const channels = net.shapeOf(x)[1];
  const s = net.swish(net.conv(net.globalAvgPool(x), squeezeChannels, 1, { bias: true }));
  const gate = net.sigmoid(net.conv(s, channels, 1, { bias: true, weightGain: 0.1 }));
  return net.mul(x, gate);
}

/** torchvision's MBConv squeezes to a quarter of the block's input channels. */
const squeezeWidth = (inChannels: number): number => Math.max(1, Math.floor(inChannels / 4));

/** MBConv as in torchvision. */
function mbconv(
  net: Net,
  x: string,
  expansion: number,
  kernel: number,
  stride: number,
  channels: number,
): string {
  const inChannels = net.shapeOf(x)[1];
  const hidden = inChannels * expansion;
  const residual = stride === 1 && inChannels === channels;
  let y = expansion === 1 ? x : net.swish(convBn(net, x, hidden, 1));
  y = net.swish(convBn(net, y, hidden, kernel, stride, hidden));
  y = squeezeExcite(net, y, squeezeWidth(inChannels));
  y = convBn(net, y, channels, 1, 1, 1, 1);
  return residual ? net.add2(y, x) : y;
}

/** EfficientNet-B0: Swish written as x * Sigmoid(x) (not HardSwish). */
function efficientnetB0(net: Net, image: string): string {
  let x = net.swish(convBn(net, image, STEM_CHANNELS, 3, 2));
  for (const [e, k, s, c, n] of STAGES) {
    for (let i = 0; i < n; i++) x = mbconv(net, x, e, k, i === 0 ? s : 1, c);
  }
  x = net.swish(convBn(net, x, HEAD_CHANNELS, 1));
  return net.linear(net.flatten(net.globalAvgPool(x)), 1000);
}

function layerShapes(): LayerShape[] {
  const stages = STAGES.map(([expansion, kernel, stride, channels, repeats]) => ({
    expansion,
    kernel,
    stride,
    channels,
    repeats,
  }));
  return invertedResidualNetShapes(IMAGENET_SIDE, STEM_CHANNELS, stages, HEAD_CHANNELS, squeezeWidth);
}

export const family = imageNetClassifier({
  name: 'efficientnet-b0',
  listOrder: 50,
  description: 'EfficientNet-B0 with squeeze-excite, Swish as x * Sigmoid(x)',
  published: {
    parameters: 5_288_548,
    macs: 0.39e9,
    source:
      'torchvision EfficientNet_B0_Weights.IMAGENET1K_V1: num_params 5288548, 0.39 GFLOPS; Tan & Le 2019, Table 2: 5.3 M params, 0.39 B FLOPS (multiply-adds)',
  },
  qosTargetMs: null,
  body: efficientnetB0,
  simulator: { layerShapes },
});
