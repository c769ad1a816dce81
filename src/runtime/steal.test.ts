import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuTicks, parseCpuTicks, stolenShare } from './steal.js';

// /proc/stat as Linux writes it: user nice system idle iowait irq softirq steal guest guest_nice.
const PROC_STAT = [
  'cpu  300 0 30 700 5 0 5 60 40 0',
  'cpu0 100 0 10 300 2 0 2 10 20 0',
  'cpu1 200 0 20 400 3 0 3 50 20 0',
  'intr 12345 0 0',
  'ctxt 999',
].join('\n');

describe('stolen CPU time', () => {
  it("sums the chosen CPUs' ticks, steal apart, leaving out guest time (already inside user time)", () => {
    assert.deepEqual(parseCpuTicks(PROC_STAT, [0]), { total: 424, stolen: 10 });
    assert.deepEqual(parseCpuTicks(PROC_STAT, [0, 1]), { total: 424 + 676, stolen: 60 });
  });

  it('says nothing rather than a wrong share when a CPU has no line', () => {
    assert.equal(parseCpuTicks(PROC_STAT, [0, 7]), undefined);
    assert.equal(parseCpuTicks('cpu0 1 2 3', [0]), undefined, 'a kernel without the steal field');
  });

  it('is the share of the time between two readings that the host took', () => {
    assert.equal(stolenShare({ total: 1000, stolen: 10 }, { total: 1200, stolen: 60 }), 0.25);
    assert.equal(stolenShare({ total: 1000, stolen: 10 }, { total: 1000, stolen: 10 }), 0, 'no time passed');
  });

  it('reads this machine where Linux says', (t) => {
    if (process.platform !== 'linux') {
      t.skip('needs /proc/stat');
      return;
    }
    const ticks = cpuTicks([0]);
    assert.ok(
      ticks && ticks.total > 0 && ticks.stolen >= 0 && ticks.stolen <= ticks.total,
      JSON.stringify(ticks),
    );
  });
});
