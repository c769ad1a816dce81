import { VeltairError } from '../errors/index.js';
/**
 * Layer shapes: the convolution / matrix-product geometry the scaling model reads.
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

export function outputSize(s: LayerShape): { ho: number; wo: number } {
  return {
    ho: Math.floor((s.h + 2 * s.ph - s.kh) / s.sh) + 1,
    wo: Math.floor((s.w + 2 * s.pw - s.kw) / s.sw) + 1,
  };
}

/** Multiply-accumulates of one inference of the layer. */
export function macsOf(s: LayerShape): number {
  const { ho, wo } = outputSize(s);
  return ho * wo * s.cout * (s.cin / s.groups) * s.kh * s.kw;
}

/** Bytes touched once: input, weights and output, float32. */
export function bytesOf(s: LayerShape): number {
  const { ho, wo } = outputSize(s);
  return 4 * (s.h * s.w * s.cin + s.kh * s.kw * (s.cin / s.groups) * s.cout + ho * wo * s.cout);
}

/** Parses the calibration's `CONV,HI-WI-CI-CO-KH-KW-PH-PW-SH-SW[-GROUPS]` row. */
export function parseShapeRow(row: string): LayerShape {
  const [kind, dims] = row.trim().split(',');
  const n = (dims ?? '').split('-').map(Number);
  if (kind !== 'CONV' || (n.length !== 10 && n.length !== 11) || n.some((x) => !Number.isFinite(x)))
    throw new VeltairError('calibration_invalid', `bad layer shape row '${row.trim()}'`);
  const [h, w, cin, cout, kh, kw, ph, pw, sh, sw, groups = 1] = n;
  return { h, w, cin, cout, kh, kw, ph, pw, sh, sw, groups };
}

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
