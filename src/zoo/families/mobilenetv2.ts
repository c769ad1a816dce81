import { IMAGENET_SIDE, imageNetClassifier } from '../family.js';
import type { Net } from '../net.js';
import { invertedResidualNetShapes, type LayerShape } from '../shapes.js';

/** Sandler et al. 2018, Table 2: expansion t, output channels c, repeats n, first stride s. */
const STAGES: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];
const STEM_CHANNELS = 32;
const HEAD_CHANNELS = 1280;

function convBnRelu6(net: Net, x: string, channels: number, kernel: number, stride = 1, group = 1): string {
  return net.relu6(net.batchNorm(net.conv(x, channels, kernel, { stride, pad: (kernel - 1) / 2, group })));
}

/** Inverted residual: 1x1 expand, 3x3 depthwise, linear 1x1 projection, residual when shapes match. */
function invertedResidual(net: Net, x: string, expansion: number, channels: number, stride: number): string {
  const inChannels = net.shapeOf(x)[1];
  const hidden = inChannels * expansion;
  let y = expansion === 1 ? x : convBnRelu6(net, x, hidden, 1);
  y = convBnRelu6(net, y, hidden, 3, stride, hidden);
  y = net.batchNorm(net.conv(y, channels, 1));
  return stride === 1 && inChannels === channels ? net.add2(x, y) : y;
}

/** MobileNetV2 (width 1.0) as in torchvision. */
function mobilenetv2(net: Net, image: string): string {
  let x = convBnRelu6(net, image, STEM_CHANNELS, 3, 2);
  for (const [t, c, n, s] of STAGES) {
    for (let i = 0; i < n; i++) x = invertedResidual(net, x, t, c, i === 0 ? s : 1);
  }
  x = convBnRelu6(net, x, HEAD_CHANNELS, 1);
  return net.linear(net.flatten(net.globalAvgPool(x)), 1000);
}

function layerShapes(): LayerShape[] {
  const stages = STAGES.map(([expansion, channels, repeats, stride]) => ({
    expansion,
    kernel: 3,
    stride,
    channels,
    repeats,
  }));
  return invertedResidualNetShapes(IMAGENET_SIDE, STEM_CHANNELS, stages, HEAD_CHANNELS);
}

export const family = imageNetClassifier({
  name: 'mobilenetv2',
  listOrder: 40,
  description: 'MobileNetV2 (width 1.0), 224x224 ImageNet classifier, ReLU6 as Clip',
  published: {
    parameters: 3_504_872,
    macs: 300e6,
    source:
      'torchvision MobileNet_V2_Weights.IMAGENET1K_V1: num_params 3504872, 0.30 GFLOPS; Sandler et al. 2018, Table 4: 300 M multiply-adds',
  },
  qosTargetMs: 10,
  body: mobilenetv2,
  simulator: { layerShapes },
});
