import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { numberFlag, seedList } from './flags.js';

describe('numberFlag', () => {
  it('refuses a blank value rather than reading it as zero', () => {
    assert.throws(() => numberFlag('--rate', '', 0, false), /--rate must be a number >= 0, got ''/);
    assert.throws(() => numberFlag('--rate', '  ', 0, false), /got ' {2}'/);
  });

  it('reads a number at or above its minimum', () => {
    assert.equal(numberFlag('--rate', '2.5', 0, false), 2.5);
    assert.throws(() => numberFlag('--queries', '2.5', 1, true), /an integer >= 1/);
  });
});

describe('seedList', () => {
  it('reads each seed once, in order', () => {
    assert.deepEqual(seedList('--seeds', '3, 1,3'), [3, 1]);
  });

  it('refuses an empty list and an empty entry', () => {
    assert.throws(() => seedList('--seeds', ''), /--seeds must be an integer >= 0, got ''/);
    assert.throws(() => seedList('--seeds', '1,,2'), /got ''/);
  });
});
