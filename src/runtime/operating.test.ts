import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flatProfile, predictorsOf } from '../engine/testing.js';
import type { BlockRecord } from './live.js';
import {
  MIN_OPERATING_BLOCKS,
  REPLAN_TOLERANCE,
  costMoved,
  operatingCost,
  ranOverPlanned,
  scaledLatencies,
  updatedCost,
} from './operating.js';

const block = (blockRange: [number, number], cpus: number[], ranMs: number, model = 'm'): BlockRecord => ({
  run: 0,
  query: 'q',
  model,
  block: blockRange,
  version: 'v',
  cpus,
  dispatchMs: 0,
  startMs: 10,
  endMs: 10 + ranMs,
});
const predictors = predictorsOf(flatProfile('m', 1000, { layers: 2 }));
const times = (n: number, b: BlockRecord) => Array.from({ length: n }, () => b);

describe('ranOverPlanned', () => {
  it('weighs each CPU count by time: what its blocks took over what their profile planned alone', () => {
    const blocks = [
      block([0, 1], [0], 1.1),
      block([0, 2], [0], 1.9),
      block([0, 2], [0, 1], 2.6),
      block([1, 2], [0, 1], 0.8),
    ];
    // 1 CPU: 3.0 ms over 3 ms planned; 2 CPUs: 3.4 ms over 3 ms (the flat profile does not scale).
    assert.deepEqual(ranOverPlanned(blocks, predictors), { '1': 1, '2': 1.133 });
  });

  it('leaves out blocks of models the engine has no profile for', () => {
    assert.deepEqual(ranOverPlanned([block([0, 1], [0], 5, 'other'), block([0, 1], [0], 2)], predictors), {
      '1': 2,
    });
  });
});

describe('operatingCost', () => {
  const scaleOf = (blocks: BlockRecord[]) =>
    [...operatingCost(blocks, predictors).scale].map(([c, f]) => [c, Math.round(f * 1000) / 1000]);

  it('is what blocks took over what was measured, by CPU count', () => {
    const blocks = [
      ...times(MIN_OPERATING_BLOCKS, block([0, 2], [0], 2.4)),
      ...times(MIN_OPERATING_BLOCKS, block([0, 1], [0, 1], 0.9)),
    ];
    assert.deepEqual(scaleOf(blocks), [
      [1, 1.2],
      [2, 0.9],
    ]);
    const spread = operatingCost(blocks, predictors).spread ?? -1;
    assert.ok(spread >= 0 && spread < 1e-9, `every block took its typical time: spread ${spread}`);
  });

  it('takes the typical ratio (geometric), and the spread of blocks around it', () => {
    const blocks = [
      ...times(MIN_OPERATING_BLOCKS, block([0, 1], [0], 2)),
      ...times(MIN_OPERATING_BLOCKS, block([0, 1], [0], 0.5)),
    ];
    const cost = operatingCost(blocks, predictors);
    assert.deepEqual(scaleOf(blocks), [[1, 1]]);
    const n = 2 * MIN_OPERATING_BLOCKS;
    assert.ok(
      Math.abs((cost.spread ?? 0) - Math.LN2 * Math.sqrt(n / (n - 1))) < 1e-9,
      `spread ${cost.spread}`,
    );
  });

  it('leaves a CPU count with too few blocks as measured, and gives no spread from too few', () => {
    const blocks = [
      ...times(MIN_OPERATING_BLOCKS, block([0, 2], [0], 2.4)),
      ...times(MIN_OPERATING_BLOCKS - 1, block([0, 1], [0, 1], 5)),
    ];
    assert.deepEqual([...operatingCost(blocks, predictors).scale.keys()], [1]);
    assert.equal(operatingCost(blocks.slice(0, 10), predictors).spread, null);
  });

  it('holds within [1/2, 2] however disturbed the run was', () => {
    const blocks = [
      ...times(MIN_OPERATING_BLOCKS, block([0, 1], [0], 30)),
      ...times(MIN_OPERATING_BLOCKS, block([0, 1], [0, 1], 0.01)),
    ];
    assert.deepEqual(
      [...operatingCost(blocks, predictors).scale],
      [
        [1, 2],
        [2, 0.5],
      ],
    );
  });
});

describe('scaledLatencies', () => {
  it('scales every unit on a core count by its factor and leaves other counts as they were', () => {
    const measured = new Map([
      [
        'all',
        new Map([
          [1, [100, 200]],
          [2, [60, 110]],
        ]),
      ],
    ]);
    const scaled = scaledLatencies(measured, new Map([[2, 1.5]]));
    assert.deepEqual(scaled.get('all')?.get(1), [100, 200]);
    assert.deepEqual(scaled.get('all')?.get(2), [90, 165]);
    assert.deepEqual(measured.get('all')?.get(2), [60, 110], 'the measurement itself is kept');
  });
});

describe('updating what blocks cost', () => {
  const cost = (scale: [number, number][], spread: number | null) => ({ scale: new Map(scale), spread });

  it('takes a new reading over the old, a CPU count it lacks keeping the old factor and spread', () => {
    const before = cost(
      [
        [1, 1.1],
        [2, 1.4],
      ],
      0.2,
    );
    const next = updatedCost(before, cost([[1, 1.3]], null));
    assert.deepEqual(
      [...next.scale],
      [
        [1, 1.3],
        [2, 1.4],
      ],
    );
    assert.equal(next.spread, 0.2);
    assert.deepEqual(updatedCost(null, cost([[2, 0.9]], 0.1)), cost([[2, 0.9]], 0.1));
  });

  it('moves only where a factor leaves the tolerance of the one in use (1 where none is)', () => {
    const now = cost([[1, 1.2]], 0.2);
    const within = 1.2 * (1 + REPLAN_TOLERANCE * 0.9);
    const beyond = 1.2 * (1 + REPLAN_TOLERANCE * 1.1);
    assert.equal(costMoved(now, cost([[1, within]], 0.3)), false, 'the spread alone does not move it');
    assert.equal(costMoved(now, cost([[1, beyond]], 0.2)), true);
    assert.equal(costMoved(now, cost([[2, 1 + REPLAN_TOLERANCE * 0.9]], 0.2)), false, 'a new count near 1');
    assert.equal(costMoved(null, cost([[2, 1.5]], 0.2)), true, 'as measured, a count at 1.5 moved');
  });
});
