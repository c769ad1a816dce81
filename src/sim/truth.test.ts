import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfilePredictor, blockPressure, median, quantile } from '../profile/index.js';
import type { BlockStart } from '../engine/index.js';
import { POLICIES, type Policy, type PolicyContext } from '../sched/index.js';
import { simulate, type SimOptions } from './engine.js';
import { calibrationProfiles } from './sources.js';
import { columnWeights, HiddenMachine, hiddenMachine } from './truth.js';
import { Rng } from './rng.js';

const predictors = new Map(calibrationProfiles().map((p) => [p.model, new ProfilePredictor(p)]));

/** Every version on every measured core count, `perColumn` random blocks of 2..8 layers each (compile/quality.ts). */
function heldOutErrorsPct(machine: HiddenMachine, rng: Rng, perColumn: number): number[] {
  const errors: number[] = [];
  for (const [model, pred] of predictors) {
    for (const version of pred.versions) {
      for (const cores of pred.data.coreCounts) {
        for (let q = 0; q < perColumn; q++) {
          const length = 2 + Math.floor(rng.next() * 7);
          const i = Math.floor(rng.next() * (pred.layerCount - length + 1));
          const trueUs = machine.soloUs(model, i, i + length, version, cores);
          const predictedUs = pred.blockUs(i, i + length, version, cores, 0);
          errors.push((Math.abs(predictedUs - trueUs) / trueUs) * 100);
        }
      }
    }
  }
  return errors;
}

function start(model: string, cpus: readonly number[], run = 0): BlockStart {
  const pred = predictors.get(model)!;
  return {
    run,
    query: `q${run}`,
    queryIndex: run,
    model,
    block: [0, pred.layerCount],
    version: 'all',
    cpus,
    startMs: 0,
  };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, k) => from + k);

/** Slowdown of each of `n` whole GoogLeNets on `cores` CPUs each, side by side. */
function googlenetsTogether(n: number, cores: number): number[] {
  const machine = new HiddenMachine(predictors, 1);
  const blocks = Array.from({ length: n }, (_, k) =>
    machine.admit(start('googlenet', range(k * cores, cores), k)),
  );
  machine.settle();
  return blocks.map((b) => b.slowdown);
}

describe('hidden machine', () => {
  it('misses blocks drawn as the compiler draws them by about the held-out error it measures (5.9 % / 16.6 %)', () => {
    const rng = new Rng(7);
    const errors = [1, 2, 3, 4, 5].flatMap((seed) =>
      heldOutErrorsPct(new HiddenMachine(predictors, seed), rng, 16),
    );
    const medianPct = median(errors);
    const p90Pct = quantile(errors, 0.9);
    assert.ok(medianPct > 4.5 && medianPct < 7.5, `median ${medianPct}`);
    assert.ok(p90Pct > 12.5 && p90Pct < 20, `p90 ${p90Pct}`);
  });

  it('keeps a shared error over a whole model, which independent per-layer errors would average away', () => {
    const errors = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((seed) => {
      const machine = new HiddenMachine(predictors, seed);
      return [...predictors].map(([model, pred]) => {
        const trueUs = machine.soloUs(model, 0, pred.layerCount, 'all', 32);
        return Math.abs(pred.blockUs(0, pred.layerCount, 'all', 32, 0) / trueUs - 1) * 100;
      });
    });
    assert.ok(median(errors) > 2.5, `whole-model median error ${median(errors)} %`);
  });

  it('draws the same machine for the same seed and another for another seed', () => {
    const latencies = (seed: number) => {
      const machine = new HiddenMachine(predictors, seed);
      return [...predictors].flatMap(([model, pred]) =>
        [1, 8, 20, 64].map((cores) => machine.soloUs(model, 1, Math.min(5, pred.layerCount), 'all', cores)),
      );
    };
    assert.deepEqual(latencies(3), latencies(3));
    const other = latencies(4);
    assert.ok(
      latencies(3).every((us, k) => us !== other[k]),
      'every block differs between seeds',
    );
  });

  it('is no machine of its own under the profile setting', () => {
    assert.equal(hiddenMachine('profile', predictors, 1), undefined);
    assert.ok(hiddenMachine('measured-error', predictors, 1) instanceof HiddenMachine);
  });

  it('slows four GoogLeNets on 16 cores each about 1.8x, the VELTAIR study figure', () => {
    for (const s of googlenetsTogether(4, 16)) assert.ok(s > 1.6 && s < 2.0, `slowdown ${s}`);
  });

  it('responds by its own law: less than the profile claims below saturation, more beyond it', () => {
    const pred = predictors.get('googlenet')!;
    const n = pred.layerCount;
    const profileSlowdown = (coRunners: number) => {
      const level = coRunners * 16 * blockPressure(pred, 0, n, 'all', { cores: 16 });
      return pred.blockUs(0, n, 'all', 16, level) / pred.blockUs(0, n, 'all', 16, 0);
    };
    assert.ok(googlenetsTogether(2, 16)[0] < profileSlowdown(1), 'two: below saturation');
    assert.ok(googlenetsTogether(4, 16)[0] > profileSlowdown(3), 'four: beyond saturation');
  });

  it('starts and ends blocks without changing how the others run alone', () => {
    const machine = new HiddenMachine(predictors, 1);
    const a = machine.admit(start('resnet50', range(0, 8)));
    const b = machine.admit(start('resnet50', range(8, 56), 1));
    machine.settle();
    assert.ok(a.slowdown > 1);
    machine.release(b);
    machine.settle();
    assert.equal(a.slowdown, 1);
  });

  it('mixes the errors of two measured core counts keeping their variance', () => {
    assert.deepEqual(columnWeights([8, 16, 24], 16), { lo: 0, hi: 1, a: 0, b: 1 });
    assert.deepEqual(columnWeights([8, 16, 24], 4), { lo: 0, hi: 0, a: 1, b: 0 });
    assert.deepEqual(columnWeights([8, 16, 24], 64), { lo: 2, hi: 2, a: 1, b: 0 });
    const { a, b } = columnWeights([8, 16, 24], 11);
    assert.ok(a > 0 && b > 0);
    assert.ok(Math.abs(a * a + b * b - 1) < 1e-12);
  });
});

describe('simulate with a hidden machine', () => {
  const models = ['resnet50', 'googlenet', 'mobilenetv2'];
  const qosTargetMs = { resnet50: 15, googlenet: 10, mobilenetv2: 10 };
  const rng = new Rng(11);
  let t = 0;
  const arrivals = Array.from({ length: 400 }, () => ({
    model: models[Math.floor(rng.next() * models.length)],
    atMs: (t += rng.exponential() * 4),
  }));

  /** What veltair is told at creation; every profile it reads is recorded in `handed` when given. */
  function contextOf(handed?: ProfilePredictor[]): PolicyContext {
    return {
      totalCores: 64,
      modelWeights: Object.fromEntries(models.map((m) => [m, 1 / models.length])),
      qosTargetMs,
      profile: (m) => recorded(predictors.get(m)!, handed),
    };
  }

  const recorded = (p: ProfilePredictor, handed?: ProfilePredictor[]) => (handed?.push(p), p);

  /** veltair at its defaults; with `handed`, a spy on every profile it is handed, at creation and in every view. */
  function veltairAt(handed?: ProfilePredictor[]): Policy {
    const inner = POLICIES.veltair.create(POLICIES.veltair.defaults, contextOf(handed));
    if (!handed) return inner;
    return {
      name: inner.name,
      decide: (view) => inner.decide({ ...view, profile: (m: string) => recorded(view.profile(m), handed) }),
    };
  }

  const options = (policy: Policy, over: Partial<SimOptions> = {}): SimOptions => ({
    totalCores: 64,
    predictors,
    qosTargetMs,
    arrivals,
    policy,
    seed: 5,
    trace: true,
    ...over,
  });

  it('no policy reads the truth model: every profile a policy is handed is the scenario predictor', () => {
    const handed: ProfilePredictor[] = [];
    const truth = simulate(options(veltairAt(handed), { truth: 'measured-error' }));
    assert.ok(handed.length > arrivals.length, `${handed.length} profiles handed`);
    const scenario = new Set(predictors.values());
    assert.ok(handed.every((p) => scenario.has(p)));
    // The spy changes nothing, and the setting does something: on the profile machine it runs otherwise.
    const profile = simulate(options(veltairAt()));
    assert.equal(simulate(options(veltairAt([]))).traceHash, profile.traceHash);
    assert.notEqual(truth.traceHash, profile.traceHash);
    assert.notEqual(truth.meanLatencyMs, profile.meanLatencyMs);
  });

  it('runs the profile setting exactly as the machine without a setting', () => {
    const plain = simulate(options(veltairAt()));
    assert.deepEqual(simulate(options(veltairAt(), { truth: 'profile' })), plain);
  });

  it('gives the same result for the same seed under measured error', () => {
    const run = () => JSON.stringify(simulate(options(veltairAt(), { truth: 'measured-error' })));
    assert.equal(run(), run());
  });
});
