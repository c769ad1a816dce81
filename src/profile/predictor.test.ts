import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfilePredictor } from './predictor.js';
import type { ModelProfileData, VersionProfile } from './format.js';
import { syntheticProfile } from './testing.js';

function version(id: string, soloUs: number[], slowdownTop: number, boundaryUs?: number[]): VersionProfile {
  return {
    version: id,
    soloUs,
    slowdown: [1, slowdownTop],
    pressure: 0,
    ...(boundaryUs ? { boundaryUs } : {}),
  };
}

/** Three layers; `all` is fast alone but fragile, `extended` slower but robust. */
function profile(): ModelProfileData {
  return syntheticProfile(
    [0, 1, 2].map(() => [
      version('all', [100, 60], 2, [20, 10]),
      version('extended', [130, 80], 1.1, [5, 5]),
    ]),
  );
}

describe('ProfilePredictor', () => {
  it("a profile that lacks a version's numbers on a layer is refused, naming the layer", () => {
    const data = profile();
    data.layers[1].versions = [version('all', [100, 60], 2, [20, 10])];
    assert.throws(() => new ProfilePredictor(data), {
      code: 'profile_unavailable',
      message: /layer 1 \(l1\) has no numbers for version 'extended'/,
    });
  });

  it('a version pruned on a layer counts there with its measured numbers, where the profile has them', () => {
    const data = profile();
    // `extended` is dominated on layer 1, and far slower there than `all`.
    data.layers[1].versions = [version('all', [100, 60], 2, [20, 10])];
    data.layers[1].dominated = [{ ...version('extended', [400, 250], 2.2, [5, 5]), why: 'dominated by all' }];
    const p = new ProfilePredictor(data);
    assert.equal(p.blockUs(0, 3, 'extended', 1, 0), 130 + 400 + 130 + 5);
    // Both versions are known on every layer, so both compete; `all` wins even under interference.
    assert.equal(p.predict(0, 3, 1, 1).version, 'all');
    assert.equal(p.predict(2, 3, 1, 1).version, 'extended');
  });

  it('a version no layer of the block kept does not compete, however close its numbers', () => {
    const data = profile();
    for (const l of data.layers) {
      l.dominated = [{ ...version('all+spin', [99, 59], 2, [20, 10]), why: 'dominated by all' }];
    }
    const p = new ProfilePredictor(data);
    assert.equal(p.predict(0, 3, 1, 0).version, 'all');
    assert.equal(p.competes(0, 3, 'all+spin'), false);
    assert.equal(p.competes(0, 3, 'all'), true);
    data.layers[1].versions.push({ ...data.layers[1].dominated![0], why: 'fastest alone on 2 cores' });
    data.layers[1].dominated = [];
    assert.equal(new ProfilePredictor(data).predict(0, 3, 2, 0).version, 'all+spin');
  });

  it('a block pays its layers in-block latency plus the end cost of its last layer, once', () => {
    const p = new ProfilePredictor(profile());
    assert.equal(p.blockUs(0, 3, 'all', 1, 0), 3 * 100 + 20);
    assert.equal(p.blockUs(1, 2, 'all', 2, 0), 60 + 10);
  });

  it('predicts the fastest version alone and the robust one under heavy interference', () => {
    const p = new ProfilePredictor(profile());
    assert.deepEqual(p.predict(0, 3, 1, 0), { latencyUs: 320, version: 'all' });
    const under = p.predict(0, 3, 1, 1);
    assert.equal(under.version, 'extended');
    assert.ok(Math.abs(under.latencyUs - (3 * 130 + 5) * 1.1) < 1e-9);
  });

  it('interpolates between measured levels', () => {
    const p = new ProfilePredictor(profile());
    assert.ok(Math.abs(p.blockUs(0, 1, 'all', 1, 0.5) - 120 * 1.5) < 1e-9);
  });

  it('a stored coarse block overrides the sum of its layers', () => {
    const data = profile();
    data.blocks = [{ range: [0, 3], versions: [version('all', [250, 150], 2)] }];
    const p = new ProfilePredictor(data);
    assert.equal(p.blockUs(0, 3, 'all', 1, 0), 250);
    assert.equal(p.blockUs(0, 2, 'all', 1, 0), 220);
  });

  it('the fewest cores meeting a budget', () => {
    const p = new ProfilePredictor(profile());
    assert.equal(p.fewestCoresWithin(0, 3, 0, 320), 1);
    assert.equal(p.fewestCoresWithin(0, 3, 0, 200), 2);
    assert.equal(p.fewestCoresWithin(0, 3, 0, 100), undefined);
  });

  it('answers a quiet prediction asked again the same, in an object of its own', () => {
    const p = new ProfilePredictor(profile());
    const first = p.predict(0, 3, 2, 0);
    first.latencyUs = 0;
    assert.deepEqual(p.predict(0, 3, 2, 0), new ProfilePredictor(profile()).predict(0, 3, 2, 0));
    assert.notEqual(p.predict(0, 3, 2, 0).latencyUs, 0);
    assert.deepEqual(p.predict(0, 3, 2.4, 0), p.predict(0, 3, 2, 0), 'cores round as uncached');
  });

  it('gives the latency on every core count in one pass as asked core count by core count, by either version pick', () => {
    const layer = (k: number): VersionProfile[] => [
      {
        version: 'all',
        soloUs: [100 + k, 60, 35, 30],
        slowdown: [1, 1.6, 2.4],
        pressure: 0,
        boundaryUs: [20, 12, 8, 8],
      },
      { version: 'extended', soloUs: [130, 80, 40 + k, 33], slowdown: [1, 1.1, 1.3], pressure: 0 },
      {
        version: 'spin',
        soloUs: [95, 70, 45, 28],
        slowdown: [1, 1.3, 1.9],
        pressure: 0,
        boundaryUs: [5, 5, 5, 5],
      },
    ];
    const data = syntheticProfile([0, 1, 2, 3, 4].map(layer), {
      coreCounts: [1, 2, 4, 8],
      levels: [0, 0.5, 1],
    });
    data.layers[3].versions = data.layers[3].versions.filter((v) => v.version !== 'spin');
    data.layers[3].dominated = [layer(3)[2]];
    data.blocks = [{ range: [1, 3], versions: layer(9) }];
    const p = new ProfilePredictor(data);
    for (const [i, j] of [
      [0, 5],
      [1, 3],
      [3, 4],
      [2, 2],
      [0, 1],
    ] as const) {
      for (const level of [0, 0.3, 0.5, 1, 1.7]) {
        const atLevel = p.latencyAcrossCores(i, j, level, 'at-level', 8);
        const alone = p.latencyAcrossCores(i, j, level, 'alone', 8);
        for (let c = 1; c <= 8; c++) {
          assert.equal(atLevel[c], p.predict(i, j, c, level).latencyUs, `[${i}, ${j}) at ${level} on ${c}`);
          assert.equal(
            alone[c],
            p.blockUs(i, j, p.predict(i, j, c, 0).version, c, level),
            `[${i}, ${j}) alone on ${c}`,
          );
        }
      }
    }
    assert.equal(p.latencyAcrossCores(0, 5, 0, 'at-level', 64).length, 9, 'no core counts past the profile');
  });
});
