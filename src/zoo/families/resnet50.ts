import { imageNetClassifier } from '../family.js';
import { resnet } from '../resnet.js';

export const family = imageNetClassifier({
  name: 'resnet50',
  listOrder: 10,
  description: 'ResNet-50 v1.5 (torchvision layout: stride on the 3x3 conv), 224x224 ImageNet classifier',
  published: {
    parameters: 25_557_032,
    macs: 4.09e9,
    source: 'torchvision ResNet50_Weights.IMAGENET1K_V1: num_params 25557032, 4.09 GFLOPS (multiply-adds)',
  },
  qosTargetMs: 15,
  body: (n, image) => resnet(n, image, 50),
  simulator: { calibrationModel: 'ResNet50' },
});
