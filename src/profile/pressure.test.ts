import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfilePredictor } from './predictor.js';
import { blockPressure } from './pressure.js';
import { syntheticProfile } from './testing.js';

/**
 * Two layers: layer 0 light (pressure 0.1) and long alone on one core, layer 1 heavy (0.5),
 * short on one core but the longer of the two on two (it does not scale).
 */
function predictor(): ProfilePredictor {
  const layer = (soloUs: number[], pressure: number) => [{ version: 'all', soloUs, slowdown: [1], pressure }];
  return new ProfilePredictor(
    syntheticProfile([layer([300, 100], 0.1), layer([100, 100], 0.5)], { levels: [0] }),
  );
}

describe('blockPressure', () => {
  it("weighs each layer's pressure by how long it runs, per the weights asked for", () => {
    const p = predictor();
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', 'work') - 0.2) < 1e-12);
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', { cores: 1 }) - 0.2) < 1e-12);
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', { cores: 2 }) - 0.3) < 1e-12);
  });

  it("a one-layer block exerts its layer's pressure, an empty one none", () => {
    const p = predictor();
    for (const weights of ['work', { cores: 2 }] as const) {
      assert.equal(blockPressure(p, 1, 2, 'all', weights), 0.5);
      assert.equal(blockPressure(p, 1, 1, 'all', weights), 0);
    }
  });
});
