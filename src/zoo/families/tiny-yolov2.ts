import { CNN_OPSET, checkImageSize, imageSpec, type ModelFamily } from '../family.js';
import type { Net } from '../net.js';
import { conv, type LayerShape } from '../shapes.js';

const DEFAULT_SIDE = 416;
/** Five halvings: one grid cell per 32 pixels. */
const GRID_SIDE = DEFAULT_SIDE / 32;
/** Stages of a 3x3 conv and a 2x2/2 max pool, each halving the size. */
const HALVING_STAGES = [16, 32, 64, 128, 256];
/** The sixth stage's pool has stride 1 (padded right and bottom), so the 13x13 grid stays. */
const LAST_POOLED = 512;
const HEAD = [1024, 1024];
/** 5 anchors x (20 VOC classes + 4 box coordinates + objectness). */
const GRID_CHANNELS = 125;

function convBnLeaky(net: Net, x: string, channels: number): string {
  return net.leakyRelu(net.batchNorm(net.conv(x, channels, 3, { pad: 1 })), 0.1);
}

/**
 * Tiny YOLOv2 for VOC (darknet `yolov2-tiny-voc.cfg`): six 3x3 conv + 2x2 max-pool stages,
 * two 3x3x1024 convs, and a 1x1 conv to the 125-channel grid. The region decoding after the
 * grid is post-processing and not part of the network.
 */
function tinyYoloV2(net: Net, image: string): string {
  let x = image;
  HALVING_STAGES.forEach((channels) => {
    x = net.maxPool(convBnLeaky(net, x, channels), 2, { stride: 2 });
  });
  x = net.maxPool(convBnLeaky(net, x, LAST_POOLED), 2, { stride: 1, pads: [0, 0, 1, 1] });
  for (const channels of HEAD) x = convBnLeaky(net, x, channels);
  const grid = net.conv(x, GRID_CHANNELS, 1, { bias: true });
  return grid;
}

function layerShapes(): LayerShape[] {
  const out: LayerShape[] = [];
  let [h, cin] = [DEFAULT_SIDE, 3];
  for (const c of HALVING_STAGES) {
    out.push(conv(h, cin, c, 3));
    [h, cin] = [h / 2, c];
  }
  for (const c of [LAST_POOLED, ...HEAD]) {
    out.push(conv(h, cin, c, 3));
    cin = c;
  }
  out.push(conv(h, cin, GRID_CHANNELS, 1));
  return out;
}

export const family: ModelFamily = {
  name: 'tiny-yolov2',
  listOrder: 70,
  description: 'Tiny YOLOv2 for PASCAL VOC (darknet yolov2-tiny-voc.cfg), 416x416 -> 13x13x125 grid',
  published: {
    parameters: 15.8587e6,
    macs: 6.9949e9 / 2,
    source:
      'OpenVINO Open Model Zoo, yolo-v2-tiny-ava-0001 model card (tiny YOLOv2 VOC, 416x416): 15.8587 MParams, 6.9949 GFlops = 3.50 G multiply-adds; darknet site lists 6.97 Bn FLOPS',
  },
  inputs: [imageSpec('image', DEFAULT_SIDE)],
  outputs: [{ name: 'grid', datatype: 'FP32', shape: [1, GRID_CHANNELS, GRID_SIDE, GRID_SIDE] }],
  qosTargetMs: null,
  opset: CNN_OPSET,
  build(net, options) {
    const side = checkImageSize(options.imageSize ?? DEFAULT_SIDE);
    net.output(tinyYoloV2(net, net.input('image', [1, 3, side, side])), 'grid');
  },
  simulator: { layerShapes },
};
