/**
 * A per-layer scaling model fitted to the 64-core calibration, so that models not measured
 * there get credible profiles. Per measured core count c, a layer's solo latency is fitted as
 *
 *   t_c = a_c + b_c * MACs + d_c * bytes      (a_c, b_c, d_c >= 0)
 *
 * by least squares on relative error (weights 1 / t^2). One fit per core count keeps what
 * does not follow from shapes (e.g. 64 cores being slower than 56 on this CPU) in the data.
 * The features are deliberately few: with ~110 measured layers, richer models did not
 * predict held-out layers better (see docs/simulator.md for the comparison).
 */
import { upperMedian } from '../profile/index.js';
import { CALIBRATION_CORES, type MeasuredLayer } from './calibration.js';
import type { LayerShape } from '../zoo/index.js';
import { bytesOf, macsOf } from './shapes.js';
import { VeltairError } from '../errors/index.js';

/** Smallest latency the model will predict: ORT's per-node dispatch floor. */
const FLOOR_US = 2;

export interface ScalingModel {
  coreCounts: number[];
  /** coefficients[k] = [a, b, d] for coreCounts[k] (all but the last); MACs and bytes in millions. */
  coefficients: number[][];
  /** Last core count's latency relative to the one before (see fitScalingModel). */
  lastColumnRatio: number;
}

export interface FitError {
  /** How the held-out set was chosen. */
  split: string;
  points: number;
  meanRelError: number;
  medianRelError: number;
  p90RelError: number;
}

function features(s: LayerShape): number[] {
  return [1, macsOf(s) / 1e6, bytesOf(s) / 1e6];
}

/**
 * Fits every measured core count but the last (64), which only ResNet50 measured and where
 * whole-model latency jumps (6.6 ms vs 4.3 ms at 56): there a fit on 53 layers of one model
 * extrapolates badly, so the 64-core column is the 56-core prediction times the median
 * measured 64/56 ratio.
 */
export function fitScalingModel(measured: readonly MeasuredLayer[]): ScalingModel {
  const last = CALIBRATION_CORES.length - 1;
  const coefficients = CALIBRATION_CORES.slice(0, last).map((_, k) => {
    const rows = measured.filter((m) => m.latencyUs[k] !== undefined);
    if (rows.length === 0)
      throw new VeltairError('calibration_invalid', `no measurements at ${CALIBRATION_CORES[k]} cores`);
    return nonNegativeWls(
      rows.map((m) => features(m.shape)),
      rows.map((m) => m.latencyUs[k] as number),
    );
  });
  return { coreCounts: [...CALIBRATION_CORES], coefficients, lastColumnRatio: lastColumnRatio(measured) };
}

/** Median over layers measured at both of latency at the last core count / the one before. */
export function lastColumnRatio(measured: readonly MeasuredLayer[]): number {
  const last = CALIBRATION_CORES.length - 1;
  const ratios = measured
    .filter((m) => m.latencyUs[last] !== undefined && m.latencyUs[last - 1] !== undefined)
    .map((m) => (m.latencyUs[last] as number) / (m.latencyUs[last - 1] as number));
  return ratios.length === 0 ? 1 : upperMedian(ratios);
}

/** Predicted solo latency in us at each of the model's core counts. */
export function predictLayerUs(model: ScalingModel, shape: LayerShape): number[] {
  const x = features(shape);
  const fitted = model.coefficients.map((th) =>
    Math.max(
      FLOOR_US,
      th.reduce((s, t, j) => s + t * x[j], 0),
    ),
  );
  return [...fitted, fitted[fitted.length - 1] * model.lastColumnRatio];
}

/**
 * Held-out error: fit on one part of the measured layers, predict the rest. Splits:
 * leave one model out (fit ResNet50, predict GoogLeNet, and back) and 5-fold over layers.
 */
export function heldOutErrors(measured: readonly MeasuredLayer[]): FitError[] {
  const models = [...new Set(measured.map((m) => m.model))];
  const out: FitError[] = [];
  for (const test of models) {
    out.push(
      errorOf(
        `fit ${models.filter((m) => m !== test).join('+')}, predict ${test}`,
        measured,
        (m) => m.model === test,
      ),
    );
  }
  const fold = (m: MeasuredLayer) => measured.indexOf(m) % 5;
  const errs: number[] = [];
  for (let f = 0; f < 5; f++) errs.push(...relErrors(measured, (m) => fold(m) === f));
  out.push(summarise('5-fold over all measured layers', errs));
  return out;
}

function errorOf(split: string, measured: readonly MeasuredLayer[], isTest: (m: MeasuredLayer) => boolean) {
  return summarise(split, relErrors(measured, isTest));
}

/** Relative errors on the test layers of a fit on the others, at every core count both have. */
function relErrors(measured: readonly MeasuredLayer[], isTest: (m: MeasuredLayer) => boolean): number[] {
  const model = fitScalingModel(measured.filter((m) => !isTest(m)));
  const errs: number[] = [];
  for (const m of measured.filter(isTest)) {
    const predicted = predictLayerUs(model, m.shape);
    m.latencyUs.forEach((y, k) => {
      if (y !== undefined) errs.push(Math.abs(predicted[k] - y) / y);
    });
  }
  return errs;
}

function summarise(split: string, errs: number[]): FitError {
  const sorted = [...errs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    split,
    points: sorted.length,
    meanRelError: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    medianRelError: at(0.5),
    p90RelError: at(0.9),
  };
}

/** Weighted least squares (weights 1/y^2) with coefficients kept >= 0 by dropping negatives. */
function nonNegativeWls(x: number[][], y: number[]): number[] {
  let active = x[0].map((_, j) => j);
  for (;;) {
    const theta = wls(x, y, active);
    const full = x[0].map(() => 0);
    active.forEach((j, a) => (full[j] = theta[a]));
    const negative = active.filter((j) => full[j] < 0);
    if (negative.length === 0) return full;
    const worst = negative.reduce((w, j) => (full[j] < full[w] ? j : w));
    active = active.filter((j) => j !== worst);
  }
}

function wls(x: number[][], y: number[], cols: number[]): number[] {
  const k = cols.length;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  x.forEach((row, i) => {
    const w = 1 / (y[i] * y[i]);
    for (let p = 0; p < k; p++) {
      for (let q = 0; q < k; q++) a[p][q] += w * row[cols[p]] * row[cols[q]];
      a[p][k] += w * row[cols[p]] * y[i];
    }
  });
  for (let p = 0; p < k; p++) a[p][p] += 1e-12; // keeps a constant feature column solvable
  return gaussSolve(a);
}

/** Solves the augmented system in place (partial pivoting). */
function gaussSolve(a: number[][]): number[] {
  const n = a.length;
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(a[r][i]) > Math.abs(a[p][i])) p = r;
    [a[i], a[p]] = [a[p], a[i]];
    for (let r = 0; r < n; r++) {
      if (r === i) continue;
      const f = a[r][i] / a[i][i];
      for (let c = i; c <= n; c++) a[r][c] -= f * a[i][c];
    }
  }
  return a.map((row, i) => row[n] / row[i]);
}
