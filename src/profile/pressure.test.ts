import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROFILE_SCHEMA, type ModelProfileData } from './format.js';
import { ProfilePredictor } from './predictor.js';
import { blockPressure } from './pressure.js';

/**
 * Two layers: layer 0 light (pressure 0.1) and long alone on one core, layer 1 heavy (0.5),
 * short on one core but the longer of the two on two (it does not scale).
 */
function predictor(): ProfilePredictor {
  const data: ModelProfileData = {
    schema: PROFILE_SCHEMA,
    model: 'm',
    modelHash: 'h',
    machine: { cpuModel: 'x', usableCores: 2, cacheBytes: {} },
    ortVersion: '1.30.0',
    source: 'synthetic',
    coreCounts: [1, 2],
    levels: [0],
    layers: [
      { soloUs: [300, 100], pressure: 0.1 },
      { soloUs: [100, 100], pressure: 0.5 },
    ].map((v, index) => ({
      index,
      name: `l${index}`,
      ops: ['Conv'],
      macs: 0,
      versions: [{ version: 'all', soloUs: v.soloUs, slowdown: [1], pressure: v.pressure }],
    })),
  };
  return new ProfilePredictor(data);
}

describe('blockPressure', () => {
  it("weighs each layer's pressure by how long it runs, per the weights asked for", () => {
    const p = predictor();
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', 'work') - 0.2) < 1e-12);
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', { cores: 1 }) - 0.2) < 1e-12);
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', { cores: 2 }) - 0.3) < 1e-12);
    assert.ok(Math.abs(blockPressure(p, 0, 2, 'all', 'equal') - 0.3) < 1e-12);
  });

  it("a one-layer block exerts its layer's pressure, an empty one none", () => {
    const p = predictor();
    for (const weights of ['work', 'equal', { cores: 2 }] as const) {
      assert.equal(blockPressure(p, 1, 2, 'all', weights), 0.5);
      assert.equal(blockPressure(p, 1, 1, 'all', weights), 0);
    }
  });
});
