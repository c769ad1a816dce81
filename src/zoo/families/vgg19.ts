import { IMAGENET_SIDE, imageNetClassifier } from '../family.js';
import type { Net } from '../net.js';
import { conv, matmul, type LayerShape } from '../shapes.js';

/** VGG-19 (configuration E of Simonyan & Zisserman 2015): 16 3x3 convs, 3 FC layers. */
const VGG19 = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
  512,
  'M',
] as const;
/** Width of the two hidden FC layers. */
const FC_WIDTH = 4096;

function vgg19(net: Net, image: string): string {
  let x = image;
  for (const layer of VGG19) {
    x =
      layer === 'M'
        ? net.maxPool(x, 2, { stride: 2 })
        : net.relu(net.conv(x, layer, 3, { pad: 1, bias: true }));
  }
  x = net.flatten(x);
  x = net.relu(net.linear(x, FC_WIDTH, true));
  x = net.relu(net.linear(x, FC_WIDTH, true));
  return net.linear(x, 1000);
}

function layerShapes(): LayerShape[] {
  const out: LayerShape[] = [];
  let [h, cin] = [IMAGENET_SIDE, 3];
  for (const layer of VGG19) {
    if (layer === 'M') {
      h /= 2;
      continue;
    }
    out.push(conv(h, cin, layer, 3));
    cin = layer;
  }
  out.push(matmul(1, cin * h * h, FC_WIDTH), matmul(1, FC_WIDTH, FC_WIDTH), matmul(1, FC_WIDTH, 1000));
  return out;
}

export const family = imageNetClassifier({
  name: 'vgg19',
  listOrder: 60,
  description: 'VGG-19 (configuration E, no BatchNorm), 224x224 ImageNet classifier',
  published: {
    parameters: 143_667_240,
    macs: 19.63e9,
    source: 'torchvision VGG19_Weights.IMAGENET1K_V1: num_params 143667240, 19.63 GFLOPS (multiply-adds)',
  },
  qosTargetMs: null,
  body: vgg19,
  simulator: { layerShapes },
});
