import type * as ort from 'onnxruntime-node';
import type { TensorMap } from '../partition/index.js';

/**
 * Tolerance for "block by block equals whole": an output matches when its largest absolute
 * difference is at most `relTolerance` times its largest magnitude (or below `absTolerance`).
 * Why relative to the output's magnitude: sessions of different blocks fuse and vectorise
 * differently, so float sums are reassociated; that moves results by a few ulps per op,
 * which deep networks accumulate to ~1e-5 of the output scale. A wrong cut (a missing input,
 * a swapped tensor) moves them by the scale itself. 1e-3 sits orders of magnitude from both.
 */
export interface Tolerance {
  readonly relTolerance: number;
  readonly absTolerance: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { relTolerance: 1e-3, absTolerance: 1e-6 };

export interface OutputDiff {
  name: string;
  maxAbsDiff: number;
  /** maxAbsDiff over the largest magnitude of the reference output. */
  maxRelDiff: number;
  ok: boolean;
  /** Why it failed when it is not a numeric difference (missing, shape, type). */
  problem?: string;
}

export interface Comparison {
  maxAbsDiff: number;
  maxRelDiff: number;
  ok: boolean;
  outputs: OutputDiff[];
}

function numbers(t: ort.Tensor): ArrayLike<number | bigint | string | boolean> {
  return t.data as ArrayLike<number | bigint | string>;
}

function compareOne(name: string, want: ort.Tensor, got: ort.Tensor | undefined, tol: Tolerance): OutputDiff {
  const fail = (problem: string): OutputDiff => ({
    name,
    maxAbsDiff: Infinity,
    maxRelDiff: Infinity,
    ok: false,
    problem,
  });
  if (!got) return fail('missing');
  if (want.type !== got.type) return fail(`type ${got.type}, expected ${want.type}`);
  if (want.dims.join(',') !== got.dims.join(',')) return fail(`shape [${got.dims}], expected [${want.dims}]`);
  const a = numbers(want);
  const b = numbers(got);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    if (typeof a[i] === 'string' || typeof a[i] === 'boolean') {
      if (a[i] !== b[i]) maxAbs = Infinity;
      continue;
    }
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
  }
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(Number(a[i]));
    if (Number.isFinite(x)) scale = Math.max(scale, x);
  }
  const maxRel = maxAbs === 0 ? 0 : maxAbs / Math.max(scale, Number.MIN_VALUE);
  return {
    name,
    maxAbsDiff: maxAbs,
    maxRelDiff: maxRel,
    ok: maxAbs <= tol.absTolerance || maxRel <= tol.relTolerance,
  };
}

/** Compares every output of `expected` with `actual` (see DEFAULT_TOLERANCE for the rule). */
export function compareOutputs(
  expected: Readonly<TensorMap>,
  actual: Readonly<TensorMap>,
  tolerance: Tolerance = DEFAULT_TOLERANCE,
): Comparison {
  const outputs = Object.entries(expected).map(([name, want]) =>
    compareOne(name, want, actual[name], tolerance),
  );
  return {
    maxAbsDiff: Math.max(0, ...outputs.map((o) => o.maxAbsDiff)),
    maxRelDiff: Math.max(0, ...outputs.map((o) => o.maxRelDiff)),
    ok: outputs.every((o) => o.ok),
    outputs,
  };
}
