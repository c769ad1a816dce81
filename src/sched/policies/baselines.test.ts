import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfilePredictor } from '../../profile/index.js';
import {
  makeContext,
  makeQuery,
  makeRunning,
  makeView,
  syntheticProfile,
  type SyntheticLayer,
} from '../testing.js';
import type { Decision, EngineView, Policy, PolicyParams, PolicySpec, Query } from '../types.js';
import { layerWise } from './layer-wise.js';
import { modelFcfs } from './model-fcfs.js';
import { planaria } from './planaria.js';
import { prema } from './prema.js';
import { partitionCores, staticPartition } from './static-partition.js';

type Dispatch = Extract<Decision, { kind: 'dispatch' }>;

function create(spec: PolicySpec, params: PolicyParams = {}, ctx = makeContext()): Policy {
  return spec.create({ ...spec.defaults, ...params }, ctx);
}

function dispatches(decisions: Decision[]): Dispatch[] {
  return decisions.filter((d): d is Dispatch => d.kind === 'dispatch');
}

/** Layers that alternate between scaling well and scaling poorly. */
const alternating: SyntheticLayer[] = Array.from({ length: 8 }, (_, k) => ({
  oneCoreUs: k % 2 === 0 ? 3000 : 600,
  parallel: k % 2 === 0 ? 0.99 : 0.6,
}));
const alternatingProfiles = { alt: new ProfilePredictor(syntheticProfile('alt', alternating)) };

/**
 * Runs one query alone through its model with `policy`: each block starts when the previous
 * one is predicted to end. Returns the dispatches in order.
 */
function runAlone(policy: Policy, profiles: Record<string, ProfilePredictor>, query: Query): Dispatch[] {
  const pred = profiles[query.model];
  const out: Dispatch[] = [];
  let [now, next] = [query.arrivalMs, 0];
  while (next < pred.layerCount) {
    const view = makeView(profiles)
      .nowMs(now)
      .waiting({ ...query, nextLayer: next })
      .build();
    const [d] = dispatches(policy.decide(view));
    assert.ok(d, `no dispatch at layer ${next}`);
    out.push(d);
    now += pred.blockUs(d.block[0], d.block[1], d.version, d.cores, 0) / 1000;
    next = d.block[1];
  }
  return out;
}

describe('layer-wise', () => {
  it('dispatches one layer at a time and changes cores at every layer', () => {
    const ctx = makeContext(alternatingProfiles);
    const policy = create(layerWise, {}, ctx);
    const run = runAlone(policy, alternatingProfiles, makeQuery().model('alt').deadlineMs(5).build());
    assert.equal(run.length, 8);
    for (const d of run) assert.equal(d.block[1] - d.block[0], 1);
    for (let k = 1; k < run.length; k++) assert.notEqual(run[k].cores, run[k - 1].cores, `layer ${k}`);
  });

  it('runs on the free cores in a conflict only when takeFree is on', () => {
    const view = makeView().cores(64, 1).waiting(makeQuery().deadlineMs(3)).build();
    assert.deepEqual(dispatches(create(layerWise, { takeFree: 0 }).decide(view)), []);
    assert.equal(dispatches(create(layerWise, { takeFree: 1 }).decide(view))[0].cores, 1);
  });
});

describe('model-fcfs', () => {
  it('runs the whole model as one block on the same cores for every query of a model', () => {
    const view = makeView()
      .waiting(makeQuery().id('a').deadlineMs(5), makeQuery().id('b').arrivalMs(1).deadlineMs(40))
      .build();
    const [a, b] = dispatches(create(modelFcfs).decide(view));
    assert.deepEqual(
      [a.block, b.block],
      [
        [0, 8],
        [0, 8],
      ],
    );
    assert.equal(a.cores, b.cores);
  });

  it('never changes the core count of a query once it has started', () => {
    const resumed = makeQuery().nextLayer(3).last(5, 'fast');
    const [d] = dispatches(create(modelFcfs).decide(makeView().waiting(resumed).build()));
    assert.deepEqual([d.block, d.cores, d.version], [[3, 8], 5, 'fast']);
  });

  it('lets nothing overtake the oldest query when it does not fit', () => {
    const view = makeView()
      .cores(64, 2)
      .waiting(makeQuery().id('old').deadlineMs(10), makeQuery().id('tiny').model('tiny').deadlineMs(10))
      .build();
    const policy = create(modelFcfs, { qosShare: 0.25 });
    assert.deepEqual(policy.decide(view), []);
  });
});

describe('static-partition', () => {
  it('sizes partitions by weight x core-time and fills the machine', () => {
    const ctx = makeContext();
    const sizes = partitionCores(ctx, () => 4);
    assert.equal(
      [...sizes.values()].reduce((a, b) => a + b, 0),
      64,
    );
    assert.ok(sizes.get('cnn')! > sizes.get('tiny')!);
  });

  it('never lets a model use idle cores outside its partition', () => {
    const ctx = makeContext();
    const policy = create(staticPartition, { qosShare: 0.5 }, ctx);
    const view = makeView()
      .waiting(...Array.from({ length: 40 }, (_, k) => makeQuery().id(`t${k}`).model('tiny').deadlineMs(10)))
      .build();
    const used = dispatches(policy.decide(view)).reduce((a, d) => a + d.cores, 0);
    const tinyCores = partitionCores(ctx, (m) =>
      m === 'tiny' ? dispatches(policy.decide(view))[0].cores : 1,
    );
    assert.ok(used <= tinyCores.get('tiny')!, `${used} cores used`);
    assert.ok(used < 64);
  });
});

describe('planaria', () => {
  const view = (): EngineView =>
    makeView()
      .waiting(makeQuery().id('relaxed').deadlineMs(30), makeQuery().id('urgent').deadlineMs(5))
      .build();

  it('gives each query the fewest cores that meet its deadline when leftovers are kept', () => {
    const ds = dispatches(create(planaria, { leftoverShare: 0, slackShare: 1 }).decide(view()));
    const pred = makeContext().profile('cnn');
    for (const d of ds) {
      const deadline = d.query === 'urgent' ? 5 : 30;
      assert.ok(pred.predict(0, 8, d.cores, 0).latencyUs <= deadline * 1000);
      assert.ok(pred.predict(0, 8, d.cores - 1, 0).latencyUs > deadline * 1000 || d.cores === 1);
    }
  });

  it('hands leftover cores mostly to the query with less slack', () => {
    const lean = dispatches(create(planaria, { leftoverShare: 0 }).decide(view()));
    const rich = dispatches(create(planaria, { leftoverShare: 1 }).decide(view()));
    const extra = (q: string) =>
      rich.find((d) => d.query === q)!.cores - lean.find((d) => d.query === q)!.cores;
    assert.ok(extra('urgent') > extra('relaxed'));
    assert.ok(rich.reduce((a, d) => a + d.cores, 0) <= 64);
  });
});

describe('prema', () => {
  it('preempts at layer boundaries: runs preemptEvery layers per dispatch', () => {
    const [d] = dispatches(
      create(prema, { preemptEvery: 1 }).decide(makeView().waiting(makeQuery()).build()),
    );
    assert.deepEqual(d.block, [0, 1]);
  });

  it('runs the shortest job first among queries with equal tokens', () => {
    const view = makeView()
      .cores(64, 8)
      .waiting(makeQuery().id('long').deadlineMs(50), makeQuery().id('short').model('tiny').deadlineMs(50))
      .build();
    assert.equal(create(prema, { tokenThreshold: 3 }).decide(view)[0].query, 'short');
  });

  it('runs a query that has waited long (enough tokens) before a shorter fresh one', () => {
    const view = makeView()
      .nowMs(30)
      .cores(64, 8)
      .running(makeRunning('x', 'cnn', 56, 40))
      .waiting(
        makeQuery().id('starved').deadlineMs(100),
        makeQuery().id('fresh').model('tiny').arrivalMs(30).deadlineMs(100),
      )
      .build();
    assert.equal(create(prema, { tokenThreshold: 3 }).decide(view)[0].query, 'starved');
  });
});
