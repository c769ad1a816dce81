import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policySpec } from '../sched/index.js';
import { flatProfile, predictorsOf } from '../engine/testing.js';
import { tunePolicy } from './evaluate.js';
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
  seed: 7,
};

describe("choosing a live policy's parameters", () => {
  it("is the live bench's grid search on the machine the runtime measured", () => {
    const predictors = predictorsOf(...job.profiles);
    const scn = liveScenario(job.machine, job.mix, predictors, job.seed);
    assert.equal(scn.totalCores, 2);
    assert.equal(scn.dispatchOverheadUs, 150);
    assert.equal(scn.noise?.soloSigma, 0.05);
    assert.equal(scn.expireLate, true, 'the live engine expires queries past their deadline');
    const tuning = tuneForLive(job);
    assert.deepEqual(tuning.params, tunePolicy(scn, policySpec(job.policy)).params);
    assert.equal(tuning.searchedPoints, tuning.gridPoints, 'no budget: the whole grid');
  });

  it('chooses on a worker thread what it chooses in the caller', async () => {
    assert.deepEqual(await tuneInWorker(job).result, tuneForLive(job));
  });

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
