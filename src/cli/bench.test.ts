import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NAIVE } from '../load/index.js';
import { policySpec } from '../sched/index.js';
import { givenParams } from './bench.js';

describe('bench --live --params', () => {
  it('leaves every policy to be tuned by default', () => {
    assert.equal(givenParams([NAIVE, 'veltair', 'layer-wise'], 'tuned'), undefined);
  });

  it('gives every registered policy its own defaults, naive none', () => {
    const params = givenParams([NAIVE, 'veltair', 'layer-wise'], 'defaults');
    assert.deepEqual([...(params?.keys() ?? [])], ['veltair', 'layer-wise']);
    assert.deepEqual(params?.get('layer-wise'), policySpec('layer-wise').defaults);
  });

  it('sets the named parameters of the one policy benched over its defaults', () => {
    const params = givenParams([NAIVE, 'veltair'], 'budgetFactor=0.5 blockSpan=0.15');
    assert.deepEqual(params?.get('veltair'), {
      ...policySpec('veltair').defaults,
      budgetFactor: 0.5,
      blockSpan: 0.15,
    });
  });

  it('refuses name=value pairs that could belong to more than one policy', () => {
    assert.throws(() => givenParams(['veltair', 'layer-wise'], 'budgetFactor=0.5'), /exactly one policy/);
  });
});
