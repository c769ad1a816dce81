import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockIoBytes, skipSavedBytes, type TensorEdge } from '../profile/index.js';
import { applyScale, localSavingScale, noFasterThanLinear, splitBoundary, theilSen } from './runcost.js';
import type { RawLayer } from './store.js';

/** x -> 0 -> 1 -> 2 -> 3 -> out, and a residual 0 -> 2 (read by 1 too). */
const tensors: TensorEdge[] = [
  { bytes: 10, producer: -1, consumers: [0] },
  { bytes: 20, producer: 0, consumers: [1, 2] },
  { bytes: 30, producer: 1, consumers: [2] },
  { bytes: 40, producer: 2, consumers: [3] },
  { bytes: 50, producer: 3, consumers: [4] },
];

function raw(index: number, us: number, pairUs?: number): RawLayer {
  return {
    index,
    name: `l${index}`,
    ops: ['Conv'],
    macs: 0,
    single: [{ version: 'all', soloUs: [us], slowdown: [1], pressure: 0 }],
    ...(pairUs === undefined ? {} : { pairUs: { all: [pairUs] } }),
  };
}

describe('run cost model', () => {
  it('a block is fed what earlier layers produced and hands on what later layers read', () => {
    assert.equal(blockIoBytes(tensors, 0, 1), 10 + 20);
    assert.equal(blockIoBytes(tensors, 1, 3), 20 + 40);
    assert.equal(blockIoBytes(tensors, 0, 4), 10 + 50);
  });

  it('a block holding both ends of a residual saves moving it to the far reader', () => {
    assert.equal(skipSavedBytes(tensors, 0, 2), 0, 'the far reader is outside');
    assert.equal(skipSavedBytes(tensors, 0, 3), 20 + 20, 'neither handed on nor fed to layer 2');
    assert.equal(skipSavedBytes(tensors, 1, 4), 0, 'produced outside');
  });

  it('fits a line through noisy junction costs without being swayed by an outlier', () => {
    const points = [1, 2, 3, 4, 5, 6].map((x) => ({ x, y: 10 + 5 * x }));
    points.push({ x: 3.5, y: 500 });
    const fit = theilSen(points);
    assert.ok(Math.abs(fit.slope - 5) < 1e-9);
    assert.ok(Math.abs(fit.intercept - 10) < 1e-9);
  });

  it('a junction cost is what the pair saves, within 90 % of the layer it ends', () => {
    const v = raw(0, 100, 150).single[0];
    const split = splitBoundary(v, raw(0, 100, 150), raw(1, 80), tensors, undefined);
    assert.deepEqual(split.boundaryUs, [30]);
    assert.deepEqual(split.soloUs, [70]);
    const noisy = splitBoundary(v, raw(0, 100, 10), raw(1, 80), tensors, undefined);
    assert.deepEqual(noisy.boundaryUs, [90]);
  });

  it("a junction can save more than the next layer's whole run: the output it no longer hands out", () => {
    // EfficientNet-B0 conv_6 (1x1 expand to a 4.6 MiB output) then conv_7: 729 + 351 us alone, 568 us as a pair.
    const layer = raw(5, 729, 568);
    const split = splitBoundary(layer.single[0], layer, raw(6, 351), tensors, undefined);
    assert.deepEqual(split.boundaryUs, [512]);
    assert.deepEqual(split.soloUs, [217]);
  });

  it('scaling junction savings keeps a one-layer block exact', () => {
    const v = { version: 'all', soloUs: [70], boundaryUs: [30], slowdown: [1], pressure: 0 };
    const scaled = applyScale(v, [1.5]);
    assert.equal(scaled.soloUs[0] + scaled.boundaryUs![0], 100);
    assert.deepEqual(scaled.boundaryUs, [45]);
  });

  it('a layer runs no faster in a block on c cores than its 1-core in-block latency / c', () => {
    // EfficientNet-B0 conv_16: 441 us in-block of 695 on 1 core; on 2 cores the split left 45 of 550.
    const v = { version: 'all', soloUs: [441, 45], boundaryUs: [254, 505], slowdown: [1], pressure: 0 };
    const floored = noFasterThanLinear(v, [1, 2]);
    assert.deepEqual(floored.soloUs, [441, 220.5]);
    assert.deepEqual(floored.boundaryUs, [254, 329.5], 'the one-layer block still sums to its run');
    const plausible = { ...v, soloUs: [441, 300] };
    assert.equal(noFasterThanLinear(plausible, [1, 2]), plausible);
  });

  it('the saving scale follows where a layer sits, between the coarse blocks that measured it', () => {
    // Eight layers of 100 us in a chain; every pair runs in 150 us (each junction saves 50).
    const chain: TensorEdge[] = Array.from({ length: 9 }, (_, k) => ({
      bytes: 0,
      producer: k - 1,
      consumers: [k],
    }));
    const layers = Array.from({ length: 8 }, (_, k) => raw(k, 100, k < 7 ? 150 : undefined));
    const fitted = { all: { callUs: [0], usPerMiB: [0] } };
    const block = (range: [number, number], us: number) => ({
      range,
      versions: [{ version: 'all', soloUs: [us], slowdown: [1], pressure: 0 }],
    });
    // [0, 2) saves what its junction says (g = 1); [6, 8) saves twice that (g = 2).
    const coarse = [block([0, 2], 150), block([6, 8], 100)];
    const local = localSavingScale(layers, chain, fitted, coarse, 1).all[0];
    assert.equal(local[0], 1);
    assert.equal(local[7], 2);
    assert.ok(local[3] > 1 && local[3] < 2, String(local[3]));
  });

  it('a coarse block whose junctions save almost nothing leaves the saving scale to the others', () => {
    const chain: TensorEdge[] = Array.from({ length: 9 }, (_, k) => ({
      bytes: 0,
      producer: k - 1,
      consumers: [k],
    }));
    // Junctions 0-3 save 50 us; from 4 on, 1 us: there a 5 % faster run of [6, 8) would read as g = 10.
    const layers = Array.from({ length: 8 }, (_, k) => raw(k, 100, k < 7 ? (k < 4 ? 150 : 199) : undefined));
    const fitted = { all: { callUs: [0], usPerMiB: [0] } };
    const block = (range: [number, number], us: number) => ({
      range,
      versions: [{ version: 'all', soloUs: [us], slowdown: [1], pressure: 0 }],
    });
    const coarse = [block([0, 2], 150), block([6, 8], 190)];
    const local = localSavingScale(layers, chain, fitted, coarse, 1).all[0];
    assert.deepEqual([local[0], local[7]], [1, 1]);
  });
});
