import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { levelAtSlowdown } from './level.js';

describe('levelAtSlowdown', () => {
  const levels = [0, 1, 2];
  const curve = [1, 2, 4];

  it('finds the level whose slowdown matches, linear between measured levels', () => {
    assert.equal(levelAtSlowdown(curve, levels, 1.5), 0.5);
    assert.equal(levelAtSlowdown(curve, levels, 2), 1);
    assert.equal(levelAtSlowdown(curve, levels, 3), 1.5);
  });

  it('extrapolates the last segment above the top level', () => {
    assert.equal(levelAtSlowdown(curve, levels, 6), 3);
  });

  it('extrapolates no further than twice the top level, however flat the last segment', () => {
    assert.equal(levelAtSlowdown(curve, levels, 100), 4);
    assert.equal(levelAtSlowdown([1, 1 + 1e-12], [0, 0.027], 1.3), 0.054);
  });

  it('a block as fast as alone, or faster, meets no interference', () => {
    assert.equal(levelAtSlowdown(curve, levels, 1), 0);
    assert.equal(levelAtSlowdown(curve, levels, 0.9), 0);
    assert.equal(levelAtSlowdown(curve, levels, NaN), 0);
  });

  it('a profile measured at one level tells no level', () => {
    assert.equal(levelAtSlowdown([1], [0], 3), 0);
  });

  it('a flat last segment answers the top level, the most the profile measured', () => {
    assert.equal(levelAtSlowdown([1, 2, 2], levels, 2.5), 2);
    assert.equal(levelAtSlowdown([1, 1], [0, 1], 1.5), 1);
  });
});
