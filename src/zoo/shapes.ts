/**
 * Layer shapes: the convolution / matrix-product geometry the simulator's scaling model reads.
 * They live with the families (a family states its layers' shapes beside its graph builder,
 * from the same stage tables) so that the simulator can model a family without building it.
 * A matrix product [M, K] x [K, N] is written as a 1x1 convolution over an M x 1 image with
 * K input and N output channels; a batched product (attention heads) uses groups.
 */
export interface LayerShape {
  /** Input height and width. */
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  ph: number;
  pw: number;
  sh: number;
  sw: number;
  groups: number;
}

/** A square convolution with "same" padding over an h x h input. */
export function conv(h: number, cin: number, cout: number, k: number, stride = 1, groups = 1): LayerShape {
  const p = Math.floor(k / 2);
  return { h, w: h, cin, cout, kh: k, kw: k, ph: p, pw: p, sh: stride, sw: stride, groups };
}

/** [rows, k] x [k, n] (times `batch` independent products). */
export function matmul(rows: number, k: number, n: number, batch = 1): LayerShape {
  return {
    h: rows,
    w: 1,
    cin: k * batch,
    cout: n * batch,
    kh: 1,
    kw: 1,
    ph: 0,
    pw: 0,
    sh: 1,
    sw: 1,
    groups: batch,
  };
}

/**
 * An inverted residual over an h x h input (MobileNetV2, EfficientNet's MBConv): 1x1 expand
 * (none when the expansion `t` is 1), k x k depthwise, the squeeze-excite FCs when `se` > 0,
 * 1x1 projection. Pointwise ops and the residual sum carry no MACs of note.
 */
function invertedResidualShapes(
  h: number,
  cin: number,
  cout: number,
  t: number,
  k: number,
  stride: number,
  se = 0,
): LayerShape[] {
  const mid = cin * t;
  const out: LayerShape[] = [];
  if (t !== 1) out.push(conv(h, cin, mid, 1));
  out.push(conv(h, mid, mid, k, stride, mid));
  if (se > 0) out.push(matmul(1, mid, se), matmul(1, se, mid));
  out.push(conv(Math.ceil(h / stride), mid, cout, 1));
  return out;
}

/** One stage of inverted residual blocks: its first block strides, the others keep the size. */
export interface InvertedResidualStage {
  expansion: number;
  kernel: number;
  stride: number;
  channels: number;
  repeats: number;
}

/**
 * A MobileNetV2-style network's shapes: a 3x3 stride-2 stem, the stages of inverted residual
 * blocks (each with squeeze-excite FCs of `squeeze(inChannels)` when given), a 1x1 head conv
 * and the 1000-way classifier.
 */
export function invertedResidualNetShapes(
  side: number,
  stemChannels: number,
  stages: readonly InvertedResidualStage[],
  headChannels: number,
  squeeze?: (inChannels: number) => number,
): LayerShape[] {
  const out = [conv(side, 3, stemChannels, 3, 2)];
  let [h, c] = [side / 2, stemChannels];
  for (const { expansion, kernel, stride: first, channels, repeats } of stages) {
    for (let i = 0; i < repeats; i++) {
      const stride = i === 0 ? first : 1;
      out.push(...invertedResidualShapes(h, c, channels, expansion, kernel, stride, squeeze?.(c) ?? 0));
      h = Math.ceil(h / stride);
      c = channels;
    }
  }
  out.push(conv(h, c, headChannels, 1), matmul(1, headChannels, 1000));
  return out;
}
