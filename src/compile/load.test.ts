import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ForeignLoadMeter, cleanRounds, parseBusyMs } from './load.js';
import { allowedCpus, expandCpuList } from './fingerprint.js';
import { CpuPlacement, ascending } from './interference.js';
import { distinctLevels } from './compiler.js';

describe('foreign load', () => {
  it('counts busy ticks of /proc/stat (not idle, not iowait) as milliseconds', () => {
    assert.equal(parseBusyMs('cpu  10 1 5 1000 7 2 3 4 9 9\ncpu0 ...'), (10 + 1 + 5 + 2 + 3 + 4) * 10);
    assert.equal(parseBusyMs(''), 0);
  });

  it('a disturbed round is redone, within the retry budget', async () => {
    let disturbed = [true, false, true, true, true];
    const meter = new ForeignLoadMeter(() => 'cpu 0 0 0 0');
    meter.foreignCores = () => (disturbed.shift() ? 2 : 0);
    let ran = 0;
    const out = await cleanRounds({ rounds: 2, maxForeignCores: 0.3, retries: 2, meter }, async () => ++ran);
    // Round 1 disturbed (redone), round 2 clean, round 3 disturbed (redone), then the budget is spent.
    assert.deepEqual(out.results, [2, 4]);
    assert.equal(out.redone, 2);
    disturbed = [];
    const clean = await cleanRounds({ rounds: 3, maxForeignCores: 0.3, retries: 5, meter }, async () => 1);
    assert.equal(clean.redone, 0);
  });
});

describe('interference levels', () => {
  it('the generator is pinned to the last CPUs of the affinity mask, never to all of them', () => {
    assert.deepEqual(expandCpuList('0-2,5'), [0, 1, 2, 5]);
    assert.equal(new CpuPlacement([0, 1], 1).coRunnerCpus, '1');
    assert.equal(new CpuPlacement([0, 1, 2, 3], 2).coRunnerCpus, '2,3');
    assert.equal(new CpuPlacement([0], 1).coRunnerCpus, undefined, 'one CPU: time-share');
  });

  it('are made strictly ascending, starting at the quiet level', () => {
    assert.deepEqual(ascending([0, 0.5, 0.4, 1.2]), [0, 0.5, 0.501, 1.2]);
    assert.deepEqual(ascending([0, 0, 0]), [0, 0.001, 0.002]);
  });

  it('intensities the probe cannot tell apart collapse into the highest of them', () => {
    assert.deepEqual(distinctLevels([0, 0.1, 0.3, 1], [0, 0.2, 0.201, 0.5]), {
      intensities: [0, 0.3, 1],
      levels: [0, 0.201, 0.5],
    });
    assert.deepEqual(distinctLevels([0, 1], [0, 0.001]), { intensities: [0], levels: [0] });
  });
});

describe('CPU placement', () => {
  it("a session's pool threads go to the CPUs after the main thread's, in mask order", () => {
    const placement = new CpuPlacement([4, 5, 6, 7], 2);
    assert.deepEqual(placement.poolCpus(1), [], 'one thread: the caller only');
    assert.deepEqual(placement.poolCpus(2), [5]);
    assert.deepEqual(placement.poolCpus(4), [5, 6, 7]);
    assert.equal(placement.poolCpus(5), undefined, 'more threads than CPUs: left to the OS');
    assert.equal(placement.coRunnerCpus, '6,7');
  });

  it('pins the main thread to the first CPU while measuring, and gives the mask back after', async (t) => {
    const placement = CpuPlacement.ofThisProcess(1);
    if (process.platform !== 'linux' || placement.cpus.length < 2) {
      t.skip('needs Linux and 2 CPUs');
      return;
    }
    const mainMask = () => allowedCpus(readFileSync('/proc/self/status', 'utf8'));
    const inside = await placement.withMainThreadPinned(async () => mainMask());
    assert.deepEqual(inside, placement.cpus.slice(0, 1));
    assert.deepEqual(mainMask(), placement.cpus);
  });
});
