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
import type { Decision, PolicyParams, PolicySpec } from '../types.js';
import { blockThreshold, veltair, veltair1v, veltairConfig, veltairFixed } from './veltair.js';

/** Layers whose scalability falls gradually, so their core demands differ a little each. */
const graded: SyntheticLayer[] = [0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.87, 0.84].map((parallel) => ({
  oneCoreUs: 2000,
  parallel,
}));
const gradedProfiles = { graded: new ProfilePredictor(syntheticProfile('graded', graded)) };

function decide(params: PolicyParams, view = makeView().build(), spec: PolicySpec = veltair): Decision[] {
  return spec.create({ ...spec.defaults, ...params }, makeContext()).decide(view);
}

function dispatchOf(decisions: Decision[], query: string) {
  const d = decisions.find((x) => x.query === query);
  assert.ok(d && d.kind === 'dispatch', `expected a dispatch of ${query}, got ${JSON.stringify(decisions)}`);
  return d;
}

function blockLength(conflictRate: number, load: number): number {
  const view = makeView(gradedProfiles)
    .waiting(makeQuery().model('graded').deadlineMs(6))
    .conflictRate(conflictRate)
    .load(load)
    .build();
  const d = dispatchOf(
    decide({ threshold: 0.25, conflictSensitivity: 4, split: 0, blockSpan: 0 }, view),
    'q1',
  );
  return d.block[1] - d.block[0];
}

describe('veltair', () => {
  it('merges consecutive layers with similar core demand into one block', () => {
    // cnn: four well-scaling layers, then four poorly scaling ones.
    const view = makeView().waiting(makeQuery().deadlineMs(10)).build();
    assert.deepEqual(dispatchOf(decide({ threshold: 0.5, blockSpan: 0 }, view), 'q1').block, [0, 4]);
  });

  it('coarsens blocks when the conflict rate rises', () => {
    assert.ok(blockLength(1, 0.5) > blockLength(0, 0.5), `${blockLength(1, 0.5)} vs ${blockLength(0, 0.5)}`);
  });

  it('uses finer blocks when the machine idles than when it is saturated', () => {
    const cfg = veltairConfig('veltair', { threshold: 0.5, loadSensitivity: 1 });
    const at = (load: number) => blockThreshold(cfg, makeView().load(load).build());
    assert.ok(at(0) < at(1));
    assert.ok(blockLength(0, 1) > blockLength(0, 0), `${blockLength(0, 1)} vs ${blockLength(0, 0)}`);
  });

  it('dispatches the query with less slack first', () => {
    const view = makeView()
      .cores(64, 8)
      .waiting(makeQuery().id('relaxed').deadlineMs(30), makeQuery().id('urgent').arrivalMs(1).deadlineMs(6))
      .build();
    const decisions = decide({}, view);
    assert.equal(decisions[0].query, 'urgent');
  });

  it('gives a query with less slack more cores', () => {
    const view = makeView()
      .waiting(makeQuery().id('relaxed').deadlineMs(30), makeQuery().id('urgent').deadlineMs(6))
      .build();
    const decisions = decide({}, view);
    assert.ok(dispatchOf(decisions, 'urgent').cores > dispatchOf(decisions, 'relaxed').cores);
  });

  it('drops a query that cannot meet its deadline even on every core, when drop is on', () => {
    const late = makeView().nowMs(9).waiting(makeQuery().deadlineMs(10)).build();
    assert.deepEqual(decide({ drop: 1 }, late), [
      { kind: 'reject', query: 'q1', reason: 'deadline_unreachable' },
    ]);
    assert.equal(decide({ drop: 0 }, late)[0].kind, 'dispatch');
  });

  it('switches to the interference-robust version when interference rises', () => {
    const at = (level: number) =>
      dispatchOf(decide({}, makeView().interference(level).waiting(makeQuery().deadlineMs(10)).build()), 'q1')
        .version;
    assert.equal(at(0), 'fast');
    assert.equal(at(2), 'robust');
  });

  it('runs on the free cores when the wanted ones free up too late, and waits when they free up soon', () => {
    const query = makeQuery().deadlineMs(4);
    const soon = makeView()
      .cores(64, 2)
      .running(makeRunning('other', 'cnn', 62, 0.05))
      .waiting(query)
      .build();
    const late = makeView()
      .cores(64, 2)
      .running(makeRunning('other', 'cnn', 62, 50))
      .waiting(query)
      .build();
    assert.deepEqual(decide({}, soon), []);
    const d = dispatchOf(decide({}, late), 'q1');
    assert.equal(d.cores, 2);
    assert.ok((d.wantedCores ?? 0) > 2, 'the dispatch reports the cores it wanted (a conflict)');
  });

  it('plans for the pressure of the blocks running now, even when the monitor reads none', () => {
    const busy = makeView()
      .cores(64, 24)
      .running(makeRunning('other', 'cnn', 40, 5))
      .waiting(makeQuery().deadlineMs(10))
      .build();
    assert.equal(dispatchOf(decide({ pressureAware: 1, externality: 0 }, busy), 'q1').version, 'robust');
    assert.equal(dispatchOf(decide({ pressureAware: 0, externality: 0 }, busy), 'q1').version, 'fast');
  });

  it('prefers the version lighter on co-runners when many cores are busy', () => {
    // At level 0.3 `fast` is quicker alone, but it presses twice as hard on the 40 busy cores.
    const busy = makeView()
      .cores(64, 24)
      .interference(0.3)
      .running(makeRunning('other', 'cnn', 40, 5))
      .waiting(makeQuery().deadlineMs(10))
      .build();
    const params = { pressureAware: 0, drop: 1 };
    assert.equal(dispatchOf(decide({ ...params, externality: 0 }, busy), 'q1').version, 'fast');
    assert.equal(dispatchOf(decide({ ...params, externality: 1 }, busy), 'q1').version, 'robust');
  });

  it('ends a block before its planned time passes blockSpan of the tightest QoS target', () => {
    const view = makeView(gradedProfiles).waiting(makeQuery().model('graded').deadlineMs(20)).build();
    const length = (blockSpan: number) => {
      const d = dispatchOf(decide({ threshold: 8, blockSpan }, view), 'q1');
      return d.block[1] - d.block[0];
    };
    assert.equal(length(0), graded.length);
    assert.ok(length(0.1) < graded.length, `${length(0.1)} layers`);
  });

  it('with queue-aware dropping, rejects a query that would miss even once the cores it waits for free up', () => {
    const view = makeView()
      .cores(64, 0)
      .running(makeRunning('other', 'cnn', 64, 5))
      .waiting(makeQuery().deadlineMs(6))
      .build();
    assert.deepEqual(decide({ drop: 3, pressureAware: 0 }, view), [
      { kind: 'reject', query: 'q1', reason: 'deadline_unreachable' },
    ]);
    assert.deepEqual(decide({ drop: 2, pressureAware: 0 }, view), []);
  });

  it('lets a later query backfill only around the reservation of a blocked urgent one', () => {
    // The urgent query needs the whole machine and reserves it for t = 0.05 ms; the relaxed
    // one would hold a core past that, so it must not start; one that ends by then may.
    const monitorOnly = { drop: 1, pressureAware: 0, blockSpan: 0 };
    const view = makeView()
      .cores(64, 4)
      .running(makeRunning('other', 'cnn', 60, 0.05))
      .waiting(makeQuery().id('urgent').deadlineMs(2.6), makeQuery().id('relaxed').deadlineMs(40))
      .build();
    assert.deepEqual(decide(monitorOnly, view), []);
    const short = makeView()
      .cores(64, 4)
      .running(makeRunning('other', 'cnn', 60, 0.5))
      .waiting(
        makeQuery().id('urgent').deadlineMs(2.5),
        makeQuery().id('short').model('tiny').deadlineMs(0.5),
      )
      .build();
    assert.deepEqual(
      decide(monitorOnly, short).map((d) => d.query),
      ['short'],
    );
  });

  it('decides the same way twice on the same view', () => {
    const view = makeView()
      .interference(0.7)
      .conflictRate(0.3)
      .waiting(makeQuery().id('a').deadlineMs(10), makeQuery().id('b').model('tiny').deadlineMs(2))
      .build();
    assert.deepEqual(decide({}, view), decide({}, view));
  });
});

describe('veltair-fixed', () => {
  it('cuts blocks of exactly the configured number of layers', () => {
    const view = makeView().waiting(makeQuery().deadlineMs(10)).build();
    assert.deepEqual(dispatchOf(decide({ blockLayers: 3 }, view, veltairFixed), 'q1').block, [0, 3]);
  });
});

describe('veltair-1v', () => {
  it('keeps the version fastest alone under interference', () => {
    const view = makeView().interference(2).waiting(makeQuery().deadlineMs(10)).build();
    assert.equal(dispatchOf(decide({}, view, veltair1v), 'q1').version, 'fast');
  });
});
