/**
 * Separating what a layer costs inside a block from what running a block as its own session
 * costs. Runs of single layers L(k) and of consecutive pairs L([k, k+2)) give, per junction,
 * the end cost S(k) = L(k) + L(k+1) - L([k, k+2)) a block saves by not ending at k (the
 * call, materializing outputs for JavaScript, NCHWc conversions). Measured per junction,
 * because it is far from proportional to bytes (allocation paths change with tensor size).
 * A line S = call + a * x (x: bytes the pair no longer moves) fitted over all junctions
 * (Theil-Sen, robust to noisy junctions) prices what pairs cannot see: residual values that
 * a longer block keeps inside, and the last layer's end cost.
 */
import {
  blockIoBytes,
  median,
  skipSavedBytes,
  type RunCost,
  type TensorEdge,
  type VersionProfile,
} from '../profile/index.js';
import type { MeasuredBlock, RawLayer } from './store.js';

const MIB = 1024 * 1024;

/** A robust line fit y = intercept + slope * x, both at least 0. */
export function theilSen(points: readonly { x: number; y: number }[]): { intercept: number; slope: number } {
  if (points.length === 0) return { intercept: 0, slope: 0 };
  const slopes: number[] = [];
  for (let a = 0; a < points.length; a++) {
    for (let b = a + 1; b < points.length; b++) {
      const dx = points[b].x - points[a].x;
      if (Math.abs(dx) > 1e-9) slopes.push((points[b].y - points[a].y) / dx);
    }
  }
  const slope = slopes.length > 0 ? Math.max(0, median(slopes)) : 0;
  const intercept = Math.max(0, median(points.map((p) => p.y - slope * p.x)));
  return { intercept, slope };
}

/** Fits (call, per-MiB) per version and core count from the single and pair runs of `layers`. */
export function fitRunCost(
  layers: readonly RawLayer[],
  tensors: readonly TensorEdge[],
  versions: readonly string[],
  coreCounts: readonly number[],
): Record<string, RunCost> {
  const io = (i: number, j: number) => blockIoBytes(tensors, i, j) / MIB;
  const fits: Record<string, RunCost> = {};
  for (const version of versions) {
    const callUs: number[] = [];
    const usPerMiB: number[] = [];
    coreCounts.forEach((_, c) => {
      const points: { x: number; y: number }[] = [];
      for (let k = 0; k + 1 < layers.length; k++) {
        const l0 = layers[k].single.find((v) => v.version === version)?.soloUs[c];
        const l1 = layers[k + 1].single.find((v) => v.version === version)?.soloUs[c];
        const pair = layers[k].pairUs?.[version]?.[c];
        if (l0 === undefined || l1 === undefined || pair === undefined) continue;
        points.push({ x: io(k, k + 1) + io(k + 1, k + 2) - io(k, k + 2), y: l0 + l1 - pair });
      }
      const fit = theilSen(points);
      callUs.push(round1(fit.intercept));
      usPerMiB.push(round1(fit.slope));
    });
    fits[version] = { callUs, usPerMiB };
  }
  return fits;
}

/**
 * Splits a layer's one-layer-block latency L(k) into in-block latency and end cost
 * S(k) = L(k) + L(k+1) - L([k, k+2)), what a block saves by running k and k+1 together (kept
 * within [0, 90 %] of L(k): noise can push it out). S(k) may exceed L(k+1): it includes
 * handing out k's output, which can cost more than the next layer's whole run (EfficientNet-B0
 * conv_6, a 4.6 MiB output: 729 us alone, 351 us for conv_7, 568 us for the pair; capped at
 * 90 % of conv_7, blocks across that junction were predicted 45-50 % too slow). The last layer
 * has no successor: its end cost is the fitted run cost of its own boundary, at most half its
 * run.
 */
export function splitBoundary(
  v: VersionProfile,
  layer: RawLayer,
  next: RawLayer | undefined,
  tensors: readonly TensorEdge[],
  cost: RunCost | undefined,
): VersionProfile {
  const nextV = next?.single.find((w) => w.version === v.version);
  const pair = layer.pairUs?.[v.version];
  const ioMiB = blockIoBytes(tensors, layer.index, layer.index + 1) / MIB;
  const boundaryUs = v.soloUs.map((l, c) => {
    if (!nextV || !pair) return Math.min(0.5 * l, cost ? cost.callUs[c] + cost.usPerMiB[c] * ioMiB : 0);
    const saved = l + nextV.soloUs[c] - pair[c];
    return Math.max(0, Math.min(saved, 0.9 * l));
  });
  return {
    ...v,
    soloUs: v.soloUs.map((l, c) => round1(l - boundaryUs[c])),
    ...(v.soloP90Us ? { soloP90Us: v.soloP90Us.map((l, c) => round1(Math.max(0, l - boundaryUs[c]))) } : {}),
    boundaryUs: boundaryUs.map(round1),
  };
}

/**
 * The ratio g each coarse block needs, per version and core count: measured = sum of L(k) -
 * g * (sum of internal S(k) + residual savings); NaN where it cannot be computed, or where the
 * junctions save under MIN_SAVED_SHARE of the block's latency: there g is a run-to-run
 * difference divided by a small number. ResNet-50's [39, 45) with `extended` on 2 cores saved
 * 56 us of 8.6 ms, read as g = 12.8 (6 once clamped), and held-out blocks around and past it,
 * where single 2-core runs had left large end costs, were predicted at 0.17-0.51x their
 * latency. With the block's centre (in layers).
 */
function blockRatios(
  layers: readonly RawLayer[],
  tensors: readonly TensorEdge[],
  fitted: Record<string, RunCost>,
  coarse: readonly MeasuredBlock[],
  coreCountLength: number,
): { center: number; ratio: Record<string, number[]> }[] {
  return coarse
    .filter((b) => b.range[1] <= layers.length)
    .map((block) => {
      const [i, j] = block.range;
      const ratio: Record<string, number[]> = {};
      for (const version of Object.keys(fitted)) {
        ratio[version] = Array.from({ length: coreCountLength }, (_, c) => {
          const measured = block.versions.find((v) => v.version === version)?.soloUs[c];
          if (measured === undefined) return NaN;
          let sumL = 0;
          let saved = (fitted[version].usPerMiB[c] * skipSavedBytes(tensors, i, j)) / MIB;
          for (let k = i; k < j; k++) {
            const v = layers[k].single.find((w) => w.version === version);
            if (!v) return NaN;
            sumL += v.soloUs[c];
            if (k < j - 1)
              saved += splitBoundary(v, layers[k], layers[k + 1], tensors, fitted[version]).boundaryUs![c];
          }
          return saved > MIN_SAVED_SHARE * measured ? (sumL - measured) / saved : NaN;
        });
      }
      return { center: (i + j - 1) / 2, ratio };
    });
}

/**
 * Junction savings below this share of a coarse block's latency leave its g undetermined: runs
 * of one block differ by a few percent, which g would read as differences of a whole unit.
 */
const MIN_SAVED_SHARE = 0.05;

function clampScale(g: number): number {
  return Math.round(Math.min(MAX_SCALE, Math.max(0.5, g)) * 1000) / 1000;
}

/**
 * The saving scale where a layer sits, per version, core count and layer ([c][k]): junction
 * savings are not alike along a model (MobileNetV2's early layers hand on 1-5 MiB activations,
 * its late ones a few hundred KiB, and a block of either saves a different multiple of what
 * pairs say), so g is interpolated linearly between the coarse blocks' centres (constant past
 * the first and last), each block's own ratio clamped to [0.5, MAX_SCALE]. 1 without blocks.
 */
export function localSavingScale(
  layers: readonly RawLayer[],
  tensors: readonly TensorEdge[],
  fitted: Record<string, RunCost>,
  coarse: readonly MeasuredBlock[],
  coreCountLength: number,
): Record<string, number[][]> {
  const blocks = blockRatios(layers, tensors, fitted, coarse, coreCountLength);
  const local: Record<string, number[][]> = {};
  for (const version of Object.keys(fitted)) {
    local[version] = Array.from({ length: coreCountLength }, (_, c) => {
      const points = blocks
        .filter((b) => Number.isFinite(b.ratio[version][c]))
        .map((b) => ({ x: b.center, g: clampScale(b.ratio[version][c]) }));
      return layers.map((_, k) => interpolate(points, k) ?? 1);
    });
  }
  return local;
}

/** Piecewise-linear through `points` (ascending x), flat past the ends; undefined for none. */
function interpolate(points: readonly { x: number; g: number }[], x: number): number | undefined {
  if (points.length === 0) return undefined;
  if (x <= points[0].x) return points[0].g;
  for (let p = 1; p < points.length; p++) {
    if (x <= points[p].x) {
      const t = (x - points[p - 1].x) / (points[p].x - points[p - 1].x);
      return Math.round((points[p - 1].g + (points[p].g - points[p - 1].g) * t) * 1000) / 1000;
    }
  }
  return points[points.length - 1].g;
}

/**
 * Upper bound of the saving scale g. Where outputs are large (MobileNetV2's early layers move
 * 1-5 MiB activations), six-layer blocks save ~3.6x what their junctions measured in pairs
 * say: a bound of 3 left those blocks predicted 50 % too slow.
 */
const MAX_SCALE = 6;

/** `v` with `f` applied to every solo latency column it has (typical, p90), rounded. */
export function mapSoloUs(v: VersionProfile, f: (us: number, c: number) => number): VersionProfile {
  const g = (us: number, c: number) => round1(f(us, c));
  return {
    ...v,
    soloUs: v.soloUs.map(g),
    ...(v.soloP90Us ? { soloP90Us: v.soloP90Us.map(g) } : {}),
  };
}

/** A layer version with its end cost scaled by g: in-block latency L - g S, end cost g S. */
export function applyScale(v: VersionProfile, g: readonly number[] | undefined): VersionProfile {
  if (!g || !v.boundaryUs) return v;
  const boundary = v.boundaryUs;
  return {
    ...mapSoloUs(v, (us, c) => Math.max(0.05 * (us + boundary[c]), us - (g[c] - 1) * boundary[c])),
    boundaryUs: boundary.map((b, c) => round1(b * g[c])),
  };
}

/**
 * A layer version whose in-block latency on c cores is at least its 1-core in-block latency / c:
 * c threads do not run a layer's kernels faster than that. The split of a one-layer run into
 * in-block latency and end cost is a difference of noisy runs, made larger by the saving
 * scale, and on more cores it could leave almost nothing in the block: EfficientNet-B0
 * `conv_16` (695 us alone on 1 core, 441 of them in-block) came out at 45 us in-block on
 * 2 cores, and 2-core held-out blocks holding such layers were predicted up to 41 % too fast.
 * What the floor adds in the block it takes from the end cost, so that a one-layer block
 * still sums to its measured run.
 */
export function noFasterThanLinear(v: VersionProfile, coreCounts: readonly number[]): VersionProfile {
  const floor = coreCounts.map((cores) => (v.soloUs[0] * coreCounts[0]) / cores);
  const raise = v.soloUs.map((us, c) => Math.max(0, floor[c] - us));
  if (raise.every((r) => r === 0)) return v;
  return {
    ...mapSoloUs(v, (us, c) => us + raise[c]),
    ...(v.boundaryUs ? { boundaryUs: v.boundaryUs.map((b, c) => round1(Math.max(0, b - raise[c]))) } : {}),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
