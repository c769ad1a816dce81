import { imageNetClassifier } from '../family.js';
import type { Net } from '../net.js';

/** One inception module's branch widths: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection. */
type Inception = [number, number, number, number, number, number];

/** Szegedy et al. 2015, Table 1. */
const MODULES: Record<string, Inception> = {
  '3a': [64, 96, 128, 16, 32, 32],
  '3b': [128, 128, 192, 32, 96, 64],
  '4a': [192, 96, 208, 16, 48, 64],
  '4b': [160, 112, 224, 24, 64, 64],
  '4c': [128, 128, 256, 24, 64, 64],
  '4d': [112, 144, 288, 32, 64, 64],
  '4e': [256, 160, 320, 32, 128, 128],
  '5a': [256, 160, 320, 32, 128, 128],
  '5b': [384, 192, 384, 48, 128, 128],
};

function convRelu(net: Net, x: string, channels: number, kernel: number, stride = 1): string {
  return net.relu(net.conv(x, channels, kernel, { stride, pad: (kernel - 1) / 2, bias: true }));
}

function inception(net: Net, x: string, [c1, r3, c3, r5, c5, pool]: Inception): string {
  const b1 = convRelu(net, x, c1, 1);
  const b3 = convRelu(net, convRelu(net, x, r3, 1), c3, 3);
  const b5 = convRelu(net, convRelu(net, x, r5, 1), c5, 5);
  const bp = convRelu(net, net.maxPool(x, 3, { stride: 1, pad: 1 }), pool, 1);
  return net.concat([b1, b3, b5, bp], 1);
}

/** Caffe-style 3x3/2 max pool that rounds up (112 -> 56 -> 28 -> 14 -> 7). */
function pool(net: Net, x: string): string {
  return net.maxPool(x, 3, { stride: 2, ceil: true });
}

/**
 * GoogLeNet (Inception v1) as published: 5x5 branches, LRN after the stem, no BatchNorm,
 * no auxiliary classifiers (they are dropped at inference).
 */
function googlenet(net: Net, image: string): string {
  let x = convRelu(net, image, 64, 7, 2);
  x = net.lrn(pool(net, x), 5, 1e-4, 0.75, 1);
  x = convRelu(net, convRelu(net, x, 64, 1), 192, 3);
  x = pool(net, net.lrn(x, 5, 1e-4, 0.75, 1));
  for (const name of ['3a', '3b']) x = inception(net, x, MODULES[name]);
  x = pool(net, x);
  for (const name of ['4a', '4b', '4c', '4d', '4e']) x = inception(net, x, MODULES[name]);
  x = pool(net, x);
  for (const name of ['5a', '5b']) x = inception(net, x, MODULES[name]);
  return net.linear(net.flatten(net.globalAvgPool(x)), 1000);
}

export const family = imageNetClassifier({
  name: 'googlenet',
  listOrder: 30,
  description: 'GoogLeNet / Inception v1 as published (5x5 branches, LRN, no BatchNorm, no auxiliary heads)',
  // The paper's "1.5 G multiply-adds" is Table 1's ops column, which lists conv1 (7x7x3 -> 64 at
  // 112x112) as 34 M where that layer costs 118 M; the other rows match this graph layer by
  // layer. The VELTAIR calibration data (shared/calibration GoogLeNet) has these same 5x5 layers.
  published: {
    parameters: 6.999e6,
    macs: 1.586e9,
    source:
      'params: OpenVINO Open Model Zoo googlenet-v1 (BVLC Caffe GoogLeNet), 6.999 M; MACs: Szegedy et al. 2015, Table 1 ops column (1502 M) with conv1 counted in full (118 M instead of 34 M) = 1.586 G',
  },
  qosTargetMs: null,
  body: googlenet,
  // The calibration measured the conv layers (not the FC), listed out of execution order.
  simulator: { calibrationModel: 'GoogLeNet', sortRowsByInputSize: true },
});
