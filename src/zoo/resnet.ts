import type { Net } from './net.js';

/** Blocks per stage: basic blocks for ResNet-18, bottlenecks for ResNet-50 (He et al. 2016, Table 1). */
export const RESNET_BLOCKS = { 18: [2, 2, 2, 2], 50: [3, 4, 6, 3] } as const;

/** Width of a stage's 3x3 convolutions: 64, 128, 256, 512. */
export const stageWidth = (stage: number): number => 64 << stage;

/** Each stage but the first halves the size in its first block. */
export const blockStride = (stage: number, block: number): number => (block === 0 && stage > 0 ? 2 : 1);

function convBn(
  net: Net,
  x: string,
  channels: number,
  kernel: number,
  stride: number,
  relu: boolean,
): string {
  const y = net.batchNorm(net.conv(x, channels, kernel, { stride, pad: (kernel - 1) / 2 }));
  return relu ? net.relu(y) : y;
}

/** Projection shortcut (1x1 conv + BN) when the shape changes, identity otherwise. */
function shortcut(net: Net, x: string, channels: number, stride: number): string {
  const inChannels = net.shapeOf(x)[1];
  if (stride === 1 && inChannels === channels) return x;
  return convBn(net, x, channels, 1, stride, false);
}

function basicBlock(net: Net, x: string, channels: number, stride: number): string {
  const y = convBn(net, x, channels, 3, stride, true);
  const z = convBn(net, y, channels, 3, 1, false);
  return net.relu(net.add2(z, shortcut(net, x, channels, stride)));
}

/** ResNet v1.5 bottleneck (torchvision): the stride sits on the 3x3 convolution. */
function bottleneck(net: Net, x: string, width: number, stride: number): string {
  const y = convBn(net, x, width, 1, 1, true);
  const z = convBn(net, y, width, 3, stride, true);
  const out = convBn(net, z, width * 4, 1, 1, false);
  return net.relu(net.add2(out, shortcut(net, x, width * 4, stride)));
}

/**
 * ResNet-18 (basic blocks [2, 2, 2, 2]) and ResNet-50 (bottlenecks [3, 4, 6, 3]) as in
 * He et al. 2016 / torchvision: 7x7/2 stem, 3x3/2 max pool, four stages, global pool, FC 1000.
 */
export function resnet(net: Net, image: string, depth: 18 | 50): string {
  const block = depth === 18 ? basicBlock : bottleneck;
  let x = convBn(net, image, 64, 7, 2, true);
  x = net.maxPool(x, 3, { stride: 2, pad: 1 });
  RESNET_BLOCKS[depth].forEach((blocks, stage) => {
    for (let b = 0; b < blocks; b++) x = block(net, x, stageWidth(stage), blockStride(stage, b));
  });
  return net.linear(net.flatten(net.globalAvgPool(x)), 1000);
}
