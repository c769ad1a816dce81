import { IMAGENET_SIDE, imageNetClassifier } from '../family.js';
import { RESNET_BLOCKS, blockStride, resnet, stageWidth } from '../resnet.js';
import { conv, matmul, type LayerShape } from '../shapes.js';

/** Stem 7x7/2 and max pool 3x3/2, the basic blocks' two 3x3 convs and 1x1 projection, the FC. */
function layerShapes(): LayerShape[] {
  const out = [conv(IMAGENET_SIDE, 3, 64, 7, 2)];
  let [h, cin] = [IMAGENET_SIDE / 4, 64];
  RESNET_BLOCKS[18].forEach((blocks, stage) => {
    const cout = stageWidth(stage);
    for (let b = 0; b < blocks; b++) {
      const s = blockStride(stage, b);
      out.push(conv(h, cin, cout, 3, s));
      const ho = Math.ceil(h / s);
      out.push(conv(ho, cout, cout, 3));
      if (s !== 1 || cin !== cout) out.push(conv(h, cin, cout, 1, s));
      [h, cin] = [ho, cout];
    }
  });
  out.push(matmul(1, cin, 1000));
  return out;
}

export const family = imageNetClassifier({
  name: 'resnet18',
  listOrder: 20,
  description: 'ResNet-18, 224x224 ImageNet classifier',
  published: {
    parameters: 11_689_512,
    macs: 1.81e9,
    source: 'torchvision ResNet18_Weights.IMAGENET1K_V1: num_params 11689512, 1.81 GFLOPS (multiply-adds)',
  },
  qosTargetMs: null,
  body: (n, image) => resnet(n, image, 18),
  simulator: { layerShapes },
});
