import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import { syntheticProfile } from '../profile/testing.js';
import { residualModel } from '../partition/fixtures.js';
import {
  MIN_INTERFERENCE_RANGE,
  estimatedChainOverhead,
  measuredSegmentProfile,
  planSegments,
  segmentProfile,
  withoutVersions,
} from './segments.js';
import { ServedModel } from './served.js';
import { syntheticProfileOf } from './testing.js';

/** `n` layers of `us` each on one core (half on two), one cut cost for every layer end. */
function profile(n: number, us: number, endUs: number, levels = [0, 0.5]): ModelProfileData {
  const versions = () => [
    {
      version: 'all',
      soloUs: [us, us / 2],
      boundaryUs: [endUs, endUs],
      slowdown: levels.map((_, k) => 1 + k * 0.2),
      pressure: 0.1,
    },
    { version: 'all+spin', soloUs: [us * 1.2, us / 3], slowdown: levels.map(() => 1), pressure: 0.3 },
  ];
  return syntheticProfile(Array.from({ length: n }, versions), { levels });
}

const noBytes = () => 0;

describe('planSegments', () => {
  it('ends a segment once its cut costs at most the allowed share of it', () => {
    // A cut costs 10 us: at 5 % a segment needs 200 us, two 100 us layers.
    const pred = new ProfilePredictor(profile(6, 100, 10));
    assert.deepEqual(planSegments(pred, noBytes, { junctionShare: 0.05 }), [
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
  });

  it('scales the cut estimates by what was measured, and never lets a segment outgrow the bound', () => {
    const pred = new ProfilePredictor(profile(6, 100, 10));
    assert.deepEqual(planSegments(pred, noBytes, { junctionShare: 0.05, junctionScale: 3 }), [[0, 6]]);
    assert.deepEqual(
      planSegments(pred, noBytes, { junctionShare: 0.05, junctionScale: 3, maxSegmentUs: 250 }),
      [
        [0, 2],
        [2, 4],
        [4, 6],
      ],
    );
  });

  it('estimates what the cuts of a plan add to the whole model', () => {
    const pred = new ProfilePredictor(profile(4, 100, 10));
    const overhead = estimatedChainOverhead(
      pred,
      [
        [0, 2],
        [2, 4],
      ],
      noBytes,
    );
    // One cut of 10 us over a whole of 400 us plus its end's 10 us.
    assert.ok(Math.abs(overhead - 10 / 410) < 1e-9, String(overhead));
    assert.ok(
      Math.abs(
        estimatedChainOverhead(
          pred,
          [
            [0, 2],
            [2, 4],
          ],
          noBytes,
          2,
        ) -
          20 / 410,
      ) < 1e-9,
    );
  });
});

describe('segment profiles', () => {
  it('drop the versions the live engine does not serve', () => {
    const data = withoutVersions(profile(2, 100, 10), (v) => v.includes('spin'));
    assert.deepEqual(
      data.layers.map((l) => l.versions.map((v) => v.version)),
      [['all'], ['all']],
    );
  });

  it('cost each segment what its session costs, and store the whole model as one block', () => {
    const data = profile(4, 100, 10);
    const seg = new ProfilePredictor(
      segmentProfile(data, [
        [0, 2],
        [2, 4],
      ]),
    );
    const layers = new ProfilePredictor(data);
    assert.equal(seg.layerCount, 2);
    assert.equal(seg.blockUs(0, 1, 'all', 1, 0), layers.blockUs(0, 2, 'all', 1, 0));
    // A chain pays both segments' ends; the whole model as one session pays one.
    assert.equal(seg.blockUs(0, 2, 'all', 1, 0), layers.blockUs(0, 4, 'all', 1, 0));
    assert.ok(
      seg.blockUs(0, 1, 'all', 1, 0) + seg.blockUs(1, 2, 'all', 1, 0) > seg.blockUs(0, 2, 'all', 1, 0),
    );
  });

  it('plan without an interference axis where the compiler could not raise its probe', () => {
    const flat = segmentProfile(profile(2, 100, 10, [0, MIN_INTERFERENCE_RANGE / 2]), [[0, 2]]);
    assert.deepEqual(flat.levels, [0]);
    const kept = segmentProfile(profile(2, 100, 10, [0, 0.5]), [[0, 2]]);
    assert.deepEqual(kept.levels, [0, 0.5]);
  });

  it('take the measured latencies, scale the core counts not measured, and keep the versions near the fastest', () => {
    const estimate = segmentProfile(
      withoutVersions(profile(4, 100, 10), (v) => v.includes('spin')),
      [
        [0, 2],
        [2, 4],
      ],
    );
    const measured = measuredSegmentProfile(estimate, new Map([['all', new Map([[1, [300, 330, 700]]])]]));
    const p = new ProfilePredictor(measured);
    assert.equal(p.blockUs(0, 1, 'all', 1, 0), 300);
    assert.equal(p.blockUs(1, 2, 'all', 1, 0), 330);
    assert.equal(p.blockUs(0, 2, 'all', 1, 0), 700, 'the whole-model block, measured');
    const ratio = 300 / estimate.layers[0].versions[0].soloUs[0];
    assert.ok(
      Math.abs(p.blockUs(0, 1, 'all', 2, 0) - estimate.layers[0].versions[0].soloUs[1] * ratio) < 1e-9,
    );
  });
});

describe('ServedModel chains', () => {
  it('hand a residual that crosses a chain back, and free what no later segment reads', async () => {
    const { model } = residualModel();
    const served = await ServedModel.fromModel(
      'residual',
      model,
      syntheticProfileOf('residual', model),
      'residual',
      {
        junctionShare: Infinity,
      },
    );
    assert.ok(served.segmentCount >= 4, `${served.segmentCount} segments`);
    // The first residual block's skip input (the graph input) is read again by its Add.
    const first = served.chain([0, 1]);
    assert.deepEqual(first.inputs, ['x']);
    assert.ok(first.returns.includes('x'), 'the skip value goes back for the block that adds it');
    const all = served.segmentChain();
    assert.deepEqual(all.returns, served.outputNames);
    const released = all.steps.flatMap((s) => s.release);
    assert.ok(!released.some((n) => all.returns.includes(n)), 'nothing returned is freed');
    assert.deepEqual(
      served.chain([0, served.segmentCount]).units,
      [served.segmentCount],
      'the whole-model unit',
    );
  });
});
