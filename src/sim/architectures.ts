/**
 * Layer shapes of the reference models that the calibration did not measure, derived from
 * their published architectures (one entry per compute-heavy node: Conv, Gemm, MatMul, in
 * execution order; the stage tables are the zoo's own). Used only to give the scaling model
 * its inputs; a test checks them against the zoo graphs layer by layer.
 */
import { EFFICIENTNET_B0_STAGES, MOBILENETV2_STAGES } from '../zoo/index.js';
import { conv, matmul, type LayerShape } from './shapes.js';

export const FITTED_MODELS = [
  'mobilenetv2',
  'efficientnet-b0',
  'vgg19',
  'resnet18',
  'tiny-yolov2',
  'bert-base',
] as const;

export function architectureShapes(model: string): LayerShape[] | undefined {
  const build = BUILDERS[model];
  return build ? build() : undefined;
}

const BUILDERS: Record<string, () => LayerShape[]> = {
  mobilenetv2,
  'efficientnet-b0': efficientnetB0,
  vgg19,
  resnet18,
  'tiny-yolov2': tinyYolov2,
  'bert-base': bert,
};

/** Inverted residual: expand 1x1 (unless t = 1), depthwise kxk, project 1x1. */
function invertedResidual(
  h: number,
  cin: number,
  cout: number,
  t: number,
  k: number,
  stride: number,
  se = 0,
) {
  const mid = cin * t;
  const out: LayerShape[] = [];
  if (t !== 1) out.push(conv(h, cin, mid, 1));
  out.push(conv(h, mid, mid, k, stride, mid));
  if (se > 0) out.push(matmul(1, mid, se), matmul(1, se, mid)); // squeeze-and-excite FCs
  out.push(conv(Math.ceil(h / stride), mid, cout, 1));
  return out;
}

function mobilenetv2(): LayerShape[] {
  const out = [conv(224, 3, 32, 3, 2)];
  let [h, c] = [112, 32];
  for (const [t, cout, n, s] of MOBILENETV2_STAGES) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      out.push(...invertedResidual(h, c, cout, t, 3, stride));
      h = Math.ceil(h / stride);
      c = cout;
    }
  }
  out.push(conv(7, 320, 1280, 1), matmul(1, 1280, 1000));
  return out;
}

function efficientnetB0(): LayerShape[] {
  const out = [conv(224, 3, 32, 3, 2)];
  let [h, c] = [112, 32];
  for (const [t, k, s, cout, n] of EFFICIENTNET_B0_STAGES) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      out.push(...invertedResidual(h, c, cout, t, k, stride, Math.max(1, Math.floor(c / 4))));
      h = Math.ceil(h / stride);
      c = cout;
    }
  }
  out.push(conv(7, 320, 1280, 1), matmul(1, 1280, 1000));
  return out;
}

function vgg19(): LayerShape[] {
  const stages = [
    [224, 64, 2],
    [112, 128, 2],
    [56, 256, 4],
    [28, 512, 4],
    [14, 512, 4],
  ];
  const out: LayerShape[] = [];
  let cin = 3;
  for (const [h, cout, n] of stages) {
    for (let i = 0; i < n; i++) {
      out.push(conv(h, cin, cout, 3));
      cin = cout;
    }
  }
  out.push(matmul(1, 25088, 4096), matmul(1, 4096, 4096), matmul(1, 4096, 1000));
  return out;
}

function resnet18(): LayerShape[] {
  const out = [conv(224, 3, 64, 7, 2)];
  let [h, cin] = [56, 64];
  for (const [cout, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    for (let b = 0; b < 2; b++) {
      const s = b === 0 ? stride : 1;
      out.push(conv(h, cin, cout, 3, s));
      const ho = Math.ceil(h / s);
      out.push(conv(ho, cout, cout, 3));
      if (s !== 1 || cin !== cout) out.push(conv(h, cin, cout, 1, s));
      [h, cin] = [ho, cout];
    }
  }
  out.push(matmul(1, 512, 1000));
  return out;
}

function tinyYolov2(): LayerShape[] {
  const chans = [16, 32, 64, 128, 256, 512];
  const out: LayerShape[] = [];
  let [h, cin] = [416, 3];
  for (const c of chans) {
    out.push(conv(h, cin, c, 3));
    cin = c;
    if (c !== 512) h /= 2; // 2x2 max-pool, stride 2 (the last pool has stride 1)
  }
  out.push(conv(13, 512, 1024, 3), conv(13, 1024, 1024, 3), conv(13, 1024, 125, 1));
  return out;
}

/** BERT-base, sequence length 128: per encoder layer Q, K, V, scores, context, output, FFN x2. */
function bert(): LayerShape[] {
  const [seq, hidden, heads, ffn] = [128, 768, 12, 3072];
  const d = hidden / heads;
  const out: LayerShape[] = [];
  for (let l = 0; l < 12; l++) {
    out.push(matmul(seq, hidden, hidden), matmul(seq, hidden, hidden), matmul(seq, hidden, hidden));
    out.push(matmul(seq, d, seq, heads), matmul(seq, seq, d, heads));
    out.push(matmul(seq, hidden, hidden), matmul(seq, hidden, ffn), matmul(seq, ffn, hidden));
  }
  out.push(matmul(1, hidden, hidden)); // pooler
  return out;
}
