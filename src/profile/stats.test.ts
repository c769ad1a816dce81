import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lowerMedian, median, nearestRank, quantile, upperMedian } from './stats.js';

describe('statistics conventions', () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('nearest rank answers a sample: the smallest with at least q of them at or below it', () => {
    assert.equal(nearestRank(ten, 0.5), 5);
    assert.equal(nearestRank(ten, 0.99), 10);
    assert.equal(nearestRank(ten, 0.9), 9);
    assert.equal(nearestRank(ten, 0), 1);
    assert.ok(Number.isNaN(nearestRank([], 0.5)));
  });

  it('the interpolated quantile moves between the closest ranks, from samples in any order', () => {
    assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
    assert.ok(Math.abs(quantile(ten, 0.9) - 9.1) < 1e-12);
    assert.equal(quantile([7], 0.9), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('medians of an even count: the mean of the middle two, the lower one, the upper one', () => {
    const xs = [4, 1, 3, 2];
    assert.equal(median(xs), 2.5);
    assert.equal(lowerMedian(xs), 2);
    assert.equal(upperMedian(xs), 3);
  });

  it('medians of an odd count agree on the middle sample', () => {
    const xs = [5, 1, 3];
    assert.equal(median(xs), 3);
    assert.equal(lowerMedian(xs), 3);
    assert.equal(upperMedian(xs), 3);
    assert.ok(Number.isNaN(upperMedian([])));
  });
});
