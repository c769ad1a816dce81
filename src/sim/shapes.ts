import { VeltairError } from '../errors/index.js';
/**
 * What the scaling model reads of a layer shape (its MACs and the bytes it touches), and the
 * calibration's shape rows. The shapes themselves are the zoo's (`LayerShape`).
 */
import type { LayerShape } from '../zoo/index.js';

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
