import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { policySpec, type PolicyParams } from '../sched/index.js';
import { flatProfile, predictorsOf } from '../engine/testing.js';
import { gridPoints, peakOf } from './evaluate.js';
import { liveScenario, tuneForLive, tuneInWorker, type LiveTuningJob } from './tuning.js';

const job: LiveTuningJob = {
  policy: 'instance-per-core',
  machine: { totalCores: 2, dispatchOverheadUs: 150, latencySpread: 0.05 },
  mix: {
    workload: 'served',
    weights: { small: 0.7, large: 0.3 },
    qosTargetMs: { small: 10, large: 40 },
    queries: 300,
  },
  profiles: [flatProfile('small', 200, { layers: 10 }), flatProfile('large', 800, { layers: 10 })],
  seeds: [7, 8, 9],
};

describe("choosing a live policy's parameters", () => {
  it('simulates the machine the runtime measured', () => {
    const scn = liveScenario(job.machine, job.mix, predictorsOf(...job.profiles), 7);
    assert.equal(scn.totalCores, 2);
    assert.equal(scn.dispatchOverheadUs, 150);
    assert.equal(scn.noise?.soloSigma, 0.05);
    assert.equal(scn.expireLate, true, 'the live engine expires queries past their deadline');
  });

  it('chooses the grid point with the highest peak averaged over the seeds', () => {
    const predictors = predictorsOf(...job.profiles);
    const spec = policySpec(job.policy);
    const meanPeak = (params: PolicyParams) =>
      job.seeds
        .map((seed) =>
          peakOf(liveScenario(job.machine, job.mix, predictors, seed), spec, params, { relTolerance: 0.02 }),
        )
        .reduce((sum, p) => sum + p.peakQps, 0) / job.seeds.length;
    const means = gridPoints(spec).map(meanPeak);
    const best = Math.max(...means);
    const tuning = tuneForLive(job);
    assert.equal(tuning.meanPeakQps, best);
    assert.deepEqual(
      tuning.params,
      gridPoints(spec)[means.indexOf(best)],
      'the first point at the best mean',
    );
    assert.equal(tuning.searchedPoints, tuning.gridPoints, 'no budget: the whole grid');
  });

  it('refuses to choose on no seed', () => {
    assert.throws(() => tuneForLive({ ...job, seeds: [] }), /at least one seed/);
  });

  it('chooses on a worker thread what it chooses in the caller', async () => {
    assert.deepEqual(await tuneInWorker(job).result, tuneForLive(job));
  });

  it('chooses on several threads, each a slice of the grid, what one thread chooses', async () => {
    const one = tuneForLive(job);
    assert.deepEqual(await tuneInWorker({ ...job, threads: 3 }).result, one);
    assert.ok(one.gridPoints > 3, 'every thread has points to search');
  });

  it(
    'chooses on a thread below every ordinary thread, so that a serving engine keeps its CPUs',
    { skip: process.platform !== 'linux' },
    async () => {
      const SCHED_IDLE = 5;
      const yielded = () =>
        readdirSync('/proc/self/task').filter((tid) => {
          try {
            const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
            // After the command name: nice is field 19, the scheduling policy field 41.
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            return Number(fields[38]) === SCHED_IDLE || Number(fields[16]) > 0;
          } catch {
            return false;
          }
        });
      const before = new Set(yielded());
      const fresh = () => yielded().filter((tid) => !before.has(tid));
      const run = tuneInWorker({ ...job, policy: 'veltair' });
      run.result.catch(() => {});
      try {
        const untilMs = Date.now() + 10_000;
        while (fresh().length === 0 && Date.now() < untilMs) await new Promise((r) => setTimeout(r, 20));
        assert.equal(fresh().length, 1, "the tuning thread stands below the engine's");
      } finally {
        run.cancel();
      }
    },
  );

  it('takes the best point so far once its time is up', () => {
    const tuning = tuneForLive({ ...job, budgetMs: 0 });
    assert.equal(tuning.searchedPoints, 1, 'the first point only');
    assert.ok(tuning.gridPoints > 1);
  });

  it('a cancelled choice never resolves with parameters', async () => {
    const run = tuneInWorker({ ...job, policy: 'veltair' });
    run.cancel();
    await assert.rejects(run.result, /worker exited/);
  });

  it('an unknown policy is an error the caller gets, not a worker that hangs', async () => {
    await assert.rejects(tuneInWorker({ ...job, policy: 'no-such-policy' }).result, /no-such-policy/);
  });
});
