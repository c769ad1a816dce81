import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueryEnd } from '../engine/index.js';
import { scalingProfile } from '../engine/testing.js';
import { ProfilePredictor } from '../profile/index.js';
import { fluidEdf, type FluidOptions } from './fluid.js';

/** One layer that scales linearly to 4 cores (4, 2, 1 ms) and runs 1 + level times slower. */
const scalable = (model: string, pressurePerCore = 0) =>
  scalingProfile(model, [4000, 2000, 1000], pressurePerCore);

/** One layer that gains little from more cores: 4, 3 and 2.5 ms on 1, 2 and 4. */
const sublinear = (model: string) => scalingProfile(model, [4000, 3000, 2500]);

/** Two queries of model `m` arriving together. */
const twoAtOnce = [
  { model: 'm', atMs: 0 },
  { model: 'm', atMs: 0 },
];

function run(over: Partial<FluidOptions> & Pick<FluidOptions, 'arrivals'>): { ends: QueryEnd[] } {
  const ends: QueryEnd[] = [];
  fluidEdf({
    totalCores: 4,
    predictors: new Map([['m', new ProfilePredictor(scalable('m'))]]),
    qosTargetMs: { m: 10 },
    onQueryEnd: (e) => ends.push(e),
    ...over,
  });
  return { ends: ends.sort((a, b) => a.index - b.index) };
}

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} != ${expected}`);

/** Two models of the same profile, told apart by their QoS targets. */
function looseAndTight(): Map<string, ProfilePredictor> {
  return new Map([
    ['loose', new ProfilePredictor(scalable('loose'))],
    ['tight', new ProfilePredictor(scalable('tight'))],
  ]);
}

describe('fluidEdf, the idealised reference', () => {
  it('runs a query alone in its fastest latency', () => {
    const { ends } = run({ arrivals: [{ model: 'm', atMs: 0 }] });
    assert.equal(ends[0].satisfied, true);
    close(ends[0].latencyMs, 1);
  });

  it('gives the cores to the earliest deadline first', () => {
    const { ends } = run({
      predictors: looseAndTight(),
      qosTargetMs: { loose: 10, tight: 3 },
      arrivals: [
        { model: 'loose', atMs: 0 },
        { model: 'tight', atMs: 0 },
      ],
    });
    close(ends[1].endMs, 1); // tight first, on all four cores
    close(ends[0].endMs, 2);
  });

  it('preempts a running query for an arrival with an earlier deadline, which then resumes', () => {
    const { ends } = run({
      predictors: looseAndTight(),
      qosTargetMs: { loose: 10, tight: 2 },
      arrivals: [
        { model: 'loose', atMs: 0 },
        { model: 'tight', atMs: 0.5 },
      ],
    });
    close(ends[1].endMs, 1.5);
    close(ends[0].endMs, 2); // half done at 0.5, paused for 1 ms, the other half after
  });

  it('drops a query that could not finish in time even alone, and counts it as a miss', () => {
    const { ends } = run({ qosTargetMs: { m: 0.5 }, arrivals: [{ model: 'm', atMs: 0 }] });
    assert.equal(ends[0].outcome, 'rejected');
    assert.equal(ends[0].reason, 'deadline_unreachable');
    assert.equal(ends[0].satisfied, false);
  });

  it('drops a waiting query as soon as it could no longer make it', () => {
    // Two equal queries, 1 ms each on the four cores: the second waits and is hopeless at 0.5 ms.
    const { ends } = run({
      totalCores: 4,
      qosTargetMs: { m: 1.5 },
      arrivals: twoAtOnce,
    });
    assert.equal(ends[0].satisfied, true);
    close(ends[0].endMs, 1);
    assert.equal(ends[1].outcome, 'rejected');
    close(ends[1].endMs, 0.5);
  });

  it('slows co-running queries by the pressure the others exert', () => {
    // Eight cores, a model that uses at most four: two queries side by side, each at level
    // 4 x 0.25 = 1 from the other, so twice as slow.
    const pred = new ProfilePredictor(scalable('m', 0.25));
    const { ends } = run({
      totalCores: 8,
      predictors: new Map([['m', pred]]),
      arrivals: twoAtOnce,
    });
    close(ends[0].latencyMs, 2);
    close(ends[1].latencyMs, 2);
  });

  it('divides thriftily on request: one core each, the cores left widening the earliest deadline', () => {
    const { ends } = run({
      division: 'thrifty',
      predictors: new Map([['m', new ProfilePredictor(sublinear('m'))]]),
      arrivals: twoAtOnce,
    });
    // The first on 3 cores (2.67 ms: linear in 1 / cores between 2 and 4), the second on 1; once
    // the first ends, the second (2/3 done) takes all four for its last third (0.83 ms).
    close(ends[0].endMs, 8 / 3);
    close(ends[1].endMs, 8 / 3 + 2.5 / 3);
    const fastest = run({
      predictors: new Map([['m', new ProfilePredictor(sublinear('m'))]]),
      arrivals: twoAtOnce,
    });
    close(fastest.ends[1].endMs, 5); // one after the other on all four
  });

  it('widens at the interference the others exert, and slows each by all the others', () => {
    // Eight cores, linear scaling, 0.25 per core: one core each first, then the four-core limit
    // for both, each at level 4 x 0.25 = 1 from the other, so 2 ms instead of 1.
    const { ends } = run({
      division: 'thrifty',
      totalCores: 8,
      predictors: new Map([['m', new ProfilePredictor(scalable('m', 0.25))]]),
      arrivals: twoAtOnce,
    });
    close(ends[0].endMs, 2);
    close(ends[1].endMs, 2);
  });

  it('gives a query alone the whole machine under either division', () => {
    for (const division of ['fastest', 'thrifty'] as const) {
      const { ends } = run({
        division,
        predictors: new Map([['m', new ProfilePredictor(sublinear('m'))]]),
        arrivals: [{ model: 'm', atMs: 0 }],
      });
      close(ends[0].latencyMs, 2.5);
    }
  });

  it('stops when asked', () => {
    let ended = 0;
    const r = fluidEdf({
      totalCores: 4,
      predictors: new Map([['m', new ProfilePredictor(scalable('m'))]]),
      qosTargetMs: { m: 10 },
      arrivals: Array.from({ length: 10 }, (_, k) => ({ model: 'm', atMs: k * 5 })),
      onQueryEnd: () => ended++,
      stopWhen: () => ended >= 3,
    });
    assert.equal(ended, 3);
    assert.equal(r.satisfied, 3);
  });
});
