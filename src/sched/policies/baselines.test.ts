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
import { instancePerCore } from './instance-per-core.js';
import { partitionCores, staticPartition } from './static-partition.js';
import { veltairFixed } from './veltair.js';

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

  it('decides as veltair does at 1-layer blocks when it chooses versions by level', () => {
    const fixed = create(veltairFixed, { blockLayers: 1, budgetFactor: 0.65, drop: 2 });
    const lw = create(layerWise, { budgetFactor: 0.65, versionRule: 2, drop: 2 });
    const views = [
      makeView().waiting(makeQuery().id('a').deadlineMs(6), makeQuery().id('b').model('tiny')).build(),
      makeView()
        .nowMs(2)
        .cores(64, 20)
        .interference(1)
        .running(makeRunning('x', 'cnn', 44, 5))
        .waiting(makeQuery().id('a').nextLayer(3).deadlineMs(9), makeQuery().id('b').deadlineMs(12))
        .build(),
    ];
    for (const view of views) assert.deepEqual(lw.decide(view), fixed.decide(view));
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
  const lean = { reserveShare: 1, slackShare: 1 };

  it('gives each query the fewest cores that meet its deadline when no cores are left over', () => {
    const ds = dispatches(create(planaria, lean).decide(view()));
    const pred = makeContext().profile('cnn');
    for (const d of ds) {
      const deadline = d.query === 'urgent' ? 5 : 30;
      assert.ok(pred.predict(0, 8, d.cores, 0).latencyUs <= deadline * 1000);
      assert.ok(pred.predict(0, 8, d.cores - 1, 0).latencyUs > deadline * 1000 || d.cores === 1);
    }
  });

  it('hands leftover cores mostly to the query with less slack', () => {
    const leanRun = dispatches(create(planaria, lean).decide(view()));
    const rich = dispatches(create(planaria, { reserveShare: 0 }).decide(view()));
    const extra = (q: string) =>
      rich.find((d) => d.query === q)!.cores - leanRun.find((d) => d.query === q)!.cores;
    assert.ok(extra('urgent') > extra('relaxed'));
    assert.ok(rich.reduce((a, d) => a + d.cores, 0) <= 64);
  });

  it('runs blocks of blockLayers layers, so cores are decided again at every boundary', () => {
    const [d] = dispatches(create(planaria, { blockLayers: 3 }).decide(view()));
    assert.deepEqual(d.block, [0, 3]);
  });

  // The relaxed query ran its last block on the 40 cores it got as leftovers; those cores are
  // free again now that it reached a boundary, and an urgent query has just arrived.
  const atBoundary = (...others: Query[]) =>
    makeView()
      .nowMs(1)
      .cores(64, 40)
      .running(makeRunning('x', 'cnn', 24, 20))
      .waiting(makeQuery().id('relaxed').nextLayer(2).deadlineMs(40).last(40, 'fast'), ...others)
      .build();

  it('shrinks a running query’s cores for an urgent arrival', () => {
    const urgent = makeQuery().id('urgent').arrivalMs(1).deadlineMs(6).build();
    const ds = dispatches(create(planaria, { reserveShare: 0 }).decide(atBoundary(urgent)));
    const relaxed = ds.find((d) => d.query === 'relaxed');
    assert.ok(relaxed && relaxed.cores < 40, `relaxed kept ${relaxed?.cores} cores`);
    assert.ok(
      ds.some((d) => d.query === 'urgent'),
      'the urgent arrival got no cores',
    );
  });

  it('grows a running query’s cores with leftovers when nothing urgent waits', () => {
    const [alone] = dispatches(create(planaria, { reserveShare: 0 }).decide(atBoundary()));
    assert.equal(alone.cores, 40);
  });

  it('keeps a reserve of cores free for urgent arrivals', () => {
    const used = (reserveShare: number) =>
      dispatches(
        create(planaria, { reserveShare }).decide(makeView().waiting(makeQuery().deadlineMs(30)).build()),
      )
        .map((d) => d.cores)
        .reduce((a, b) => a + b, 0);
    assert.ok(used(0) > 48, `${used(0)} cores without a reserve`);
    assert.ok(used(0.25) <= 48, `${used(0.25)} cores with a quarter in reserve`);
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
    assert.equal(create(prema).decide(view)[0].query, 'short');
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
    assert.equal(create(prema, { thresholdShare: 0.5, qosShare: 0.5 }).decide(view)[0].query, 'starved');
  });

  it('raises the candidate threshold with the most tokens present', () => {
    // 'waited' is shorter than 'starved' and a candidate next to a fresh query; next to
    // 'starved', which has waited far longer, the threshold rises past its tokens.
    const waited = makeQuery().id('waited').nextLayer(4).arrivalMs(20).deadlineMs(100);
    const first =
      (...queries: Query[]) =>
      (thresholdShare: number) =>
        create(prema, { thresholdShare }).decide(
          makeView()
            .nowMs(30)
            .waiting(...queries)
            .build(),
        )[0].query;
    const fresh = makeQuery().id('fresh').arrivalMs(30).deadlineMs(100).build();
    const starved = makeQuery().id('starved').deadlineMs(100).build();
    assert.equal(first(waited.build(), fresh)(0.5), 'waited');
    assert.equal(first(waited.build(), starved)(0.5), 'starved');
    assert.equal(first(waited.build(), starved)(0), 'waited', 'without a threshold: shortest first');
  });
});

describe('every baseline', () => {
  const baselines = [staticPartition, modelFcfs, layerWise, planaria, prema, instancePerCore];

  it('chooses versions by its versionRule: fastest alone, gentlest, or fastest at the level', () => {
    // `fast` is fastest alone and fragile; `robust` is 20% slower alone, lighter on shared
    // caches and memory, and fastest at interference level 2.
    const cases = [
      { versionRule: 0, level: 2, want: 'fast' },
      { versionRule: 1, level: 0, want: 'robust' },
      { versionRule: 2, level: 0, want: 'fast' },
      { versionRule: 2, level: 2, want: 'robust' },
    ];
    for (const spec of baselines) {
      assert.deepEqual(spec.paramGrid.versionRule, [0, 1, 2], spec.name);
      for (const { versionRule, level, want } of cases) {
        const view = makeView().interference(level).waiting(makeQuery().deadlineMs(60)).build();
        const [d] = dispatches(create(spec, { versionRule }).decide(view));
        assert.equal(d?.version, want, `${spec.name} versionRule ${versionRule} at level ${level}`);
      }
    }
  });

  it('drops a query that cannot meet its deadline when its grid turns drop on', () => {
    const view = makeView().waiting(makeQuery().deadlineMs(0.5)).build();
    for (const spec of baselines) {
      for (const drop of spec.paramGrid.drop) {
        const [d] = create(spec, { drop }).decide(view);
        assert.equal(d?.kind, 'reject', `${spec.name} drop ${drop}`);
      }
      const kept = create(spec, { drop: 0 }).decide(makeView().waiting(makeQuery().deadlineMs(0.5)).build());
      assert.ok(!kept.some((d) => d.kind === 'reject'), `${spec.name} drops with drop 0`);
    }
  });
});
