import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planBlock, layerTable, type BlockPlanOptions } from './plan.js';
import { standardProfiles } from './testing.js';

const base: BlockPlanOptions = {
  level: 0,
  threshold: 0.5,
  maxLayers: Infinity,
  coreLimit: 64,
  versionRule: 'adaptive',
  splitRule: 'work',
  maxBlockUs: Infinity,
};

describe('block planner', () => {
  const cnn = standardProfiles().cnn;

  it('gives a layer that cannot meet its proportional share its fastest latency (water-filling)', () => {
    // 2.6 ms for cnn: the poorly scaling tail cannot run in its work share (4/20 of the
    // budget), so it is pinned at its fastest and the well-scaling head shares the rest.
    const plan = planBlock(cnn, 0, 2600, base);
    const tailUs = [4, 5, 6, 7].reduce((s, l) => s + layerTable(cnn, 0).envUs[l][64], 0);
    assert.deepEqual(plan.block, [0, 4]);
    assert.ok(Math.abs(plan.shareUs - (2600 - tailUs)) < 1e-6, `${plan.shareUs}`);
  });

  it('gives each layer exactly the share of the water-filling fixpoint, from any layer and budget', () => {
    // The rate iterated from an infinite one, every round summing the layers in order.
    const table = layerTable(cnn, 0, 'adaptive');
    const fastest = (l: number) => table.envUs[l][cnn.maxCores];
    const shareOf = (from: number, budgetUs: number) => {
      let perWork = Infinity;
      for (let round = 0; round <= cnn.layerCount; round++) {
        let [freeBudget, freeWork] = [budgetUs, 0];
        for (let l = from; l < cnn.layerCount; l++) {
          if (cnn.layerWorkUs[l] * perWork < fastest(l)) freeBudget -= fastest(l);
          else freeWork += cnn.layerWorkUs[l];
        }
        const next = freeWork > 0 ? Math.max(0, freeBudget) / freeWork : 0;
        if (next >= perWork) break;
        perWork = next;
      }
      return Math.max(cnn.layerWorkUs[from] * perWork, fastest(from));
    };
    for (let from = 0; from < cnn.layerCount; from++) {
      for (const budgetUs of [0, 50, 400, 1000, 2600, 6000, 1e6]) {
        const plan = planBlock(cnn, from, budgetUs, { ...base, maxLayers: 1 });
        assert.equal(plan.shareUs, shareOf(from, budgetUs), `from ${from}, budget ${budgetUs}`);
      }
    }
  });

  it('plans fewer core-microseconds with the efficient split than with the work split', () => {
    const coreUs = (split: 'work' | 'efficient') => {
      let [from, total] = [0, 0];
      let budget = 6000;
      while (from < cnn.layerCount) {
        const p = planBlock(cnn, from, budget, { ...base, splitRule: split });
        total += p.cores * p.latencyUs;
        budget -= p.latencyUs;
        from = p.block[1];
      }
      return total;
    };
    assert.ok(coreUs('efficient') <= coreUs('work'), `${coreUs('efficient')} vs ${coreUs('work')}`);
  });

  it('never plans more cores than the limit', () => {
    const plan = planBlock(cnn, 0, 100, { ...base, coreLimit: 12 });
    assert.ok(plan.cores <= 12);
  });
});
