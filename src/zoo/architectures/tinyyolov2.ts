import type { Net } from '../net.js';

function convBnLeaky(net: Net, x: string, channels: number): string {
  return net.leakyRelu(net.batchNorm(net.conv(x, channels, 3, { pad: 1 })), 0.1);
}

/**
 * Tiny YOLOv2 for VOC (darknet `yolov2-tiny-voc.cfg`): six 3x3 conv + 2x2 max-pool stages
 * (the sixth pool has stride 1 and pads right/bottom so the 13x13 grid stays), two 3x3x1024
 * convs, and a 1x1 conv to 5 anchors x (20 classes + 5) = 125 channels. The region decoding
 * after the grid is post-processing and not part of the network.
 */
export function tinyYoloV2(net: Net, image: string): string {
  let x = image;
  [16, 32, 64, 128, 256].forEach((channels) => {
    x = net.maxPool(convBnLeaky(net, x, channels), 2, { stride: 2 });
  });
  x = net.maxPool(convBnLeaky(net, x, 512), 2, { stride: 1, pads: [0, 0, 1, 1] });
  x = convBnLeaky(net, x, 1024);
  x = convBnLeaky(net, x, 1024);
  const grid = net.conv(x, 125, 1, { bias: true });
  return grid;
}
