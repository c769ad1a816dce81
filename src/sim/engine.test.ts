import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POLICIES, type EngineView, type Policy } from '../sched/index.js';
import { simulate, type Arrival, type SimOptions } from './engine.js';
import { Rng } from './rng.js';
import { calibrationProfiles } from './sources.js';
import { flatProfile, layerFcfsPolicy, lossPolicy, predictorsOf } from '../engine/testing.js';
import { ProfilePredictor } from '../profile/index.js';

const quiet = { soloSigma: 0, sensitivitySigma: 0 };

function base(over: Partial<SimOptions>): SimOptions {
  return {
    totalCores: 4,
    predictors: predictorsOf(flatProfile('m', 1000)),
    qosTargetMs: { m: 5 },
    arrivals: [],
    policy: lossPolicy(),
    seed: 1,
    noise: quiet,
    dispatchOverheadUs: 0,
    ...over,
  };
}

const at = (...ms: number[]): Arrival[] => ms.map((atMs) => ({ model: 'm', atMs }));

describe('simulate', () => {
  it('runs a query on an idle machine in exactly its profile latency', () => {
    const r = simulate(base({ arrivals: at(0) }));
    assert.equal(r.completed, 1);
    assert.equal(r.meanLatencyMs, 1);
    assert.equal(r.satisfaction, 1);
  });

  it('adds the launch overhead once per dispatched block', () => {
    const predictors = predictorsOf(flatProfile('m', 1000, { layers: 3 }));
    const r = simulate(
      base({ predictors, arrivals: at(0), policy: layerFcfsPolicy(1), dispatchOverheadUs: 100 }),
    );
    assert.equal(r.blocksPerQuery, 3);
    assert.ok(Math.abs(r.meanLatencyMs - 3.3) < 1e-9, `latency ${r.meanLatencyMs}`);
  });

  it('counts latency from the scheduled arrival, so queueing is included', () => {
    // One core, two queries at t=0: the second waits 1 ms for the first.
    const r = simulate(base({ totalCores: 1, arrivals: at(0, 0), policy: layerFcfsPolicy(1) }));
    assert.deepEqual(r.p99LatencyMs, 2);
    assert.equal(r.meanLatencyMs, 1.5);
  });

  it('counts a query that had to wait for cores as a conflict', () => {
    const r = simulate(base({ totalCores: 1, arrivals: at(0, 0), policy: layerFcfsPolicy(1) }));
    assert.equal(r.conflictRate, 0.5);
  });

  it('counts a dispatch that got fewer cores than it wanted as a conflict', () => {
    const shrinking: Policy = {
      name: 'shrinking',
      decide: (view) =>
        view.waiting.map((q) => ({
          kind: 'dispatch' as const,
          query: q.id,
          block: [0, 1] as const,
          cores: 1,
          version: 'v',
          wantedCores: 2,
        })),
    };
    const r = simulate(base({ arrivals: at(0), policy: shrinking }));
    assert.equal(r.conflictRate, 1);
  });

  it('counts rejected and stranded queries as misses', () => {
    const idle: Policy = { name: 'idle', decide: () => [] };
    const stranded = simulate(base({ arrivals: at(0, 1), policy: idle }));
    assert.equal(stranded.stranded, 2);
    assert.equal(stranded.satisfaction, 0);
    const rejected = simulate(base({ totalCores: 1, arrivals: at(0, 0.5), policy: lossPolicy() }));
    assert.equal(rejected.rejected, 1);
    assert.equal(rejected.satisfaction, 0.5);
  });

  it('throws naming the policy when a decision breaks a rule', () => {
    const greedy: Policy = {
      name: 'greedy',
      decide: (view) =>
        view.waiting.map((q) => ({ kind: 'dispatch', query: q.id, block: [0, 1], cores: 99, version: 'v' })),
    };
    assert.throws(() => simulate(base({ arrivals: at(0), policy: greedy })), {
      code: 'policy_violation',
      details: { policy: 'greedy', rule: 'cores_exceed_free' },
    });
  });

  it('slows co-runners by the pressure they exert, and the monitor sees it', () => {
    const predictors = predictorsOf(flatProfile('m', 1000, { slowdownAtOne: 3, pressure: 0.5 }));
    const seen: number[] = [];
    const watching: Policy = {
      name: 'watching',
      decide(view: EngineView) {
        seen.push(view.interference);
        return lossPolicy().decide(view);
      },
    };
    // Two queries together: each sees the other's pressure 0.5 x 1 core = level 0.5 -> 2x.
    const r = simulate(base({ predictors, arrivals: at(0, 0, 10), policy: watching }));
    assert.equal(r.perModel[0].p50Ms, 2);
    assert.equal(seen[0], 0);
    assert.ok(Math.abs(seen[seen.length - 1] - 0.5) < 1e-9, `estimate ${seen[seen.length - 1]}`);
    // Alone, the third query runs at solo speed: (2 + 2 + 1) / 3.
    assert.ok(Math.abs(r.meanLatencyMs - 5 / 3) < 1e-9, `mean ${r.meanLatencyMs}`);
  });

  it('reports how much co-runners slowed the blocks: core-time weighted mean, p90 and max', () => {
    const predictors = predictorsOf(flatProfile('m', 1000, { slowdownAtOne: 3, pressure: 0.5 }));
    // Two blocks run together at 2x, the third alone at 1x: (2 + 2 + 1) ms over 3 ms.
    const r = simulate(base({ predictors, arrivals: at(0, 0, 10) }));
    assert.ok(Math.abs(r.meanSlowdown - 5 / 3) < 1e-9, `mean ${r.meanSlowdown}`);
    assert.ok(Math.abs(r.p90Slowdown - 2) < 1e-9, `p90 ${r.p90Slowdown}`);
    assert.ok(Math.abs(r.maxSlowdown - 2) < 1e-9, `max ${r.maxSlowdown}`);
    const alone = simulate(base({ predictors, arrivals: at(0, 10) }));
    assert.equal(alone.maxSlowdown, 1);
  });

  it('gives the same result for the same seed and a different one for another seed', () => {
    const predictors = new Map(calibrationProfiles().map((p) => [p.model, new ProfilePredictor(p)]));
    const rng = new Rng(7);
    let t = 0;
    const arrivals = Array.from({ length: 300 }, () => ({
      model: rng.next() < 0.5 ? 'resnet50' : 'googlenet',
      atMs: (t += rng.exponential() * 2),
    }));
    const opts = (seed: number) => ({
      totalCores: 64,
      predictors,
      qosTargetMs: { resnet50: 15, googlenet: 10 },
      arrivals,
      policy: layerFcfsPolicy(8),
      seed,
      trace: true,
    });
    const a = JSON.stringify(simulate(opts(3)));
    assert.equal(JSON.stringify(simulate(opts(3))), a);
    assert.notEqual(JSON.stringify(simulate(opts(4))), a);
  });

  it('never lets any registered policy use more cores than exist (random seeds)', () => {
    const profiles = calibrationProfiles();
    const predictors = new Map(profiles.map((p) => [p.model, new ProfilePredictor(p)]));
    const models = ['mobilenetv2', 'resnet50', 'googlenet', 'bert-base'];
    for (let seed = 1; seed <= 4; seed++) {
      const rng = new Rng(seed * 7919);
      const totalCores = 4 + Math.floor(rng.next() * 61);
      const meanGapMs = 0.2 + rng.next() * 3;
      let t = 0;
      const arrivals = Array.from({ length: 150 }, () => ({
        model: models[Math.floor(rng.next() * models.length)],
        atMs: (t += rng.exponential() * meanGapMs),
      }));
      const qosTargetMs = { mobilenetv2: 10, resnet50: 15, googlenet: 10, 'bert-base': 130 };
      const weights = Object.fromEntries(models.map((m) => [m, 0.25]));
      for (const spec of Object.values(POLICIES)) {
        const ctx = {
          totalCores,
          modelWeights: weights,
          qosTargetMs,
          profile: (m: string) => predictors.get(m) as ProfilePredictor,
        };
        const r = simulate({
          totalCores,
          predictors,
          qosTargetMs,
          arrivals,
          policy: spec.create(spec.defaults, ctx),
          seed,
        });
        assert.ok(r.maxCoresInUse <= totalCores, `${spec.name}: ${r.maxCoresInUse} of ${totalCores} cores`);
        assert.equal(r.completed + r.rejected + r.stranded, arrivals.length, spec.name);
      }
    }
  });
});
