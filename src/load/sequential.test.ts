import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../sim/index.js';
import {
  PROTOCOL_TEST,
  boundsAt,
  lookAlpha,
  lowerBound,
  lowerTail,
  upperBound,
  upperTail,
  verdictAt,
  type ModelTally,
  type Verdict,
} from './sequential.js';

const close = (actual: number, expected: number, rel = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${actual} is not ${expected}`);

describe('binomial tails', () => {
  it('match exact small cases', () => {
    close(lowerTail(2, 10, 0.5), 56 / 1024);
    close(upperTail(8, 10, 0.5), 56 / 1024);
    close(upperTail(3, 10, 0.5), 1 - 56 / 1024);
    close(lowerTail(0, 300, 0.01), 0.99 ** 300);
  });

  it('agree with each other through the symmetry X ~ n - Y at protocol sizes', () => {
    for (const k of [500, 640, 700, 900]) {
      close(upperTail(k, 64000, 0.01), lowerTail(64000 - k, 64000, 0.99), 1e-9);
      close(lowerTail(k, 64000, 0.01) + upperTail(k + 1, 64000, 0.01), 1, 1e-12);
    }
  });
});

describe('Clopper-Pearson bounds', () => {
  it('give the published intervals (R binom.test: 1 of 10 and 5 of 20 at 95 %)', () => {
    close(lowerBound(1, 10, 0.025), 0.002528579, 1e-6);
    close(upperBound(1, 10, 0.025), 0.445016117, 1e-6);
    close(lowerBound(5, 20, 0.025), 0.08657147, 1e-6);
    close(upperBound(5, 20, 0.025), 0.49104587, 1e-6);
  });

  it('give 1 - alpha^(1/n) with no misses', () => {
    for (const n of [300, 2000, 64000]) close(upperBound(0, n, 0.05), 1 - 0.05 ** (1 / n), 1e-6);
    assert.equal(lowerBound(0, 2000, 0.05), 0);
  });
});

describe('the sequential decision', () => {
  const one = (queries: number, misses: number): ModelTally[] => [{ model: 'm', queries, misses }];

  it('splits the family alpha over models and the 32 looks', () => {
    close(lookAlpha(PROTOCOL_TEST, 4), 0.05 / 128);
  });

  it('passes a model with no misses once its queries can show < 1 % and not before', () => {
    // 4 models x 500 queries: 0.99^500 = 0.0066 is above alpha = 0.00039, so not yet.
    const four = (n: number) => ['a', 'b', 'c', 'd'].map((model) => ({ model, queries: n, misses: 0 }));
    assert.equal(verdictAt(four(500), PROTOCOL_TEST), 'undecided');
    assert.equal(verdictAt(four(1000), PROTOCOL_TEST), 'pass');
    assert.equal(verdictAt(one(2000, 0), PROTOCOL_TEST), 'pass');
  });

  it('fails when one model alone is clearly above 1 %, whatever the others do', () => {
    const tallies = [...one(2000, 60), { model: 'n', queries: 50000, misses: 0 }];
    assert.equal(verdictAt(tallies, PROTOCOL_TEST), 'fail');
  });

  it('stays undecided at exactly 1 % even after 64,000 queries', () => {
    assert.equal(verdictAt(one(64000, 640), PROTOCOL_TEST), 'undecided');
  });

  it('decides as its bounds say', () => {
    for (const [n, k] of [
      [2000, 0],
      [4000, 25],
      [8000, 120],
      [16000, 100],
    ] as const) {
      const [b] = boundsAt(one(n, k), PROTOCOL_TEST);
      const expected: Verdict =
        b.upperMissRate < 0.01 ? 'pass' : b.lowerMissRate > 0.01 ? 'fail' : 'undecided';
      assert.equal(verdictAt(one(n, k), PROTOCOL_TEST), expected, `${k} of ${n}`);
    }
  });

  it('passes a 0.5 % model, never a 1 % one, and fails a 2 % one, over seeded replicates', () => {
    const rng = new Rng(7);
    const replicate = (missRate: number): Verdict => {
      let misses = 0;
      for (
        let n = PROTOCOL_TEST.chunkQueries;
        n <= PROTOCOL_TEST.maxQueries;
        n += PROTOCOL_TEST.chunkQueries
      ) {
        for (let i = 0; i < PROTOCOL_TEST.chunkQueries; i++) if (rng.next() < missRate) misses++;
        const v = verdictAt(one(n, misses), PROTOCOL_TEST);
        if (v !== 'undecided') return v;
      }
      return 'undecided';
    };
    const share = (missRate: number, v: Verdict) =>
      Array.from({ length: 100 }, () => replicate(missRate)).filter((r) => r === v).length / 100;
    assert.ok(share(0.005, 'pass') >= 0.95, 'a 0.5 % model passes');
    assert.ok(share(0.01, 'pass') <= 0.05, 'a 1 % model does not pass');
    assert.ok(share(0.02, 'fail') >= 0.99, 'a 2 % model fails');
  });
});
