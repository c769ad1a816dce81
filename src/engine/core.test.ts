import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy } from '../sched/index.js';
import { flatProfile, layerFcfsPolicy, lossPolicy, predictorsOf } from './testing.js';
import { VirtualClock } from './clock.js';
import { EngineCore, type BlockStart, type QueryEnd } from './core.js';
import { checkLedgerTrace } from './ledger.js';

/** An executor that only records what it was asked to start. */
function recorder() {
  const started: BlockStart[] = [];
  return { started, executor: { start: (blocks: readonly BlockStart[]) => void started.push(...blocks) } };
}

function engine(policy: Policy, opts: { cpus?: number[]; layers?: number; expireLate?: boolean } = {}) {
  const clock = new VirtualClock();
  const { started, executor } = recorder();
  const ends: QueryEnd[] = [];
  const core = new EngineCore(
    {
      cpus: opts.cpus ?? [0, 1],
      predictors: predictorsOf(flatProfile('m', 1000, { layers: opts.layers ?? 1 })),
      qosTargetMs: { m: 5 },
      policy,
      dispatchOverheadUs: 0,
      trace: true,
      expireLate: opts.expireLate,
      stopwatch: () => 0,
      onQueryEnd: (e) => ends.push(e),
    },
    clock,
    executor,
  );
  return { clock, core, started, ends };
}

/** Two 2-layer queries arrived at 0 on one CPU, one layer a block, expiring late ones: q0 runs. */
function twoQueriesOnOneCpu() {
  const e = engine(layerFcfsPolicy(1), { cpus: [0], layers: 2, expireLate: true });
  e.core.arrive('m', 0);
  e.core.arrive('m', 0);
  e.core.decide();
  return e;
}

describe('EngineCore', () => {
  it('starts what the policy dispatches on named CPUs and frees them when the block ends', () => {
    const { clock, core, started, ends } = engine(lossPolicy(), { cpus: [6, 9] });
    core.arrive('m', 0);
    core.decide();
    assert.equal(started.length, 1);
    assert.deepEqual(started[0].cpus, [6]);
    assert.deepEqual(started[0].block, [0, 1]);
    clock.set(1);
    core.complete(started[0].run, 1000);
    core.decide();
    assert.equal(ends.length, 1);
    assert.equal(ends[0].outcome, 'completed');
    assert.equal(ends[0].latencyMs, 1);
    assert.equal(ends[0].satisfied, true);
    assert.equal(core.ledger.free, 2);
  });

  it('runs the next block of a query on the CPU its previous block used', () => {
    const { clock, core, started } = engine(layerFcfsPolicy(1), { layers: 2 });
    core.arrive('m', 0);
    core.arrive('m', 0);
    core.decide();
    assert.deepEqual(
      started.map((s) => s.cpus[0]),
      [0, 1],
    );
    clock.set(1);
    core.complete(started[1].run, 1000);
    core.decide();
    assert.equal(started[2].query, 'q1');
    assert.deepEqual(started[2].cpus, [1]);
  });

  it('counts a query as a conflict only when it did not start at the event that made it ready', () => {
    const { clock, core, started } = engine(layerFcfsPolicy(1), { cpus: [0] });
    core.arrive('m', 0);
    core.arrive('m', 0);
    core.decide();
    clock.set(1);
    core.complete(started[0].run, 1000);
    core.decide();
    const s = core.stats();
    assert.equal(s.attempts, 2);
    assert.equal(s.conflicts, 1, 'the second query waited from 0 to 1 ms');
  });

  it('rejects waiting queries past their deadline when asked to, before the policy sees them', () => {
    const seen: number[] = [];
    const idle: Policy = {
      name: 'idle',
      decide: (view) => {
        seen.push(view.waiting.length);
        return [];
      },
    };
    const { clock, core, ends } = engine(idle, { expireLate: true });
    core.arrive('m', 0);
    core.decide();
    clock.set(6);
    core.arrive('m', 6);
    core.decide();
    assert.deepEqual(seen, [1, 1]);
    assert.equal(ends[0].reason, 'expired');
    assert.equal(core.stats().counts.get('m')?.expired, 1);
  });

  it('turns a waiting query away once its remaining layers cannot finish by its deadline, before the deadline', () => {
    // Two 1 ms layers, one CPU, a 5 ms target: q1 waits behind q0 and is hopeless after 3 ms;
    // q0, one layer left when its first block ends at 3.5 ms, is hopeless only after 4 ms.
    const { clock, core, started, ends } = twoQueriesOnOneCpu();
    assert.equal(core.nextExpiryMs, 3, 'the driver is told to wake when q1 becomes hopeless');
    clock.set(3.5);
    core.complete(started[0].run, 3500);
    core.decide();
    assert.deepEqual(
      ends.map((e) => [e.id, e.reason, e.endMs]),
      [['q1', 'expired', 3.5]],
    );
    assert.deepEqual(started[1].block, [1, 2], 'q0 still has time for its last layer and runs it');
    assert.equal(core.nextExpiryMs, Infinity);
  });

  it('says how long past its deadline the block a query was running then ran, and nothing else', () => {
    // Two layers, one per block, a 5 ms target: q0's second block straddles its deadline; q1
    // waits past its own (its first block starts after it) and expires with nothing excused.
    const { clock, core, started, ends } = twoQueriesOnOneCpu();
    clock.set(3);
    core.complete(started[0].run, 3000);
    core.decide();
    assert.equal(started[1].query, 'q0', 'q0 keeps the CPU for its second block');
    clock.set(7.5);
    core.complete(started[1].run, 4500);
    core.decide();
    const byId = new Map(ends.map((e) => [e.id, e]));
    assert.equal(byId.get('q0')?.outcome, 'completed');
    assert.equal(byId.get('q0')?.blockOverrunMs, 2.5);
    assert.equal(byId.get('q1')?.reason, 'expired');
    assert.equal(byId.get('q1')?.blockOverrunMs, 0);
  });

  it("gives each query's longest block, dispatch to end, as the lateness its deadline promise allows", () => {
    // q0's blocks run 0-3 ms and 3-7.5 ms; q1 never runs one, so its deadline allows nothing more.
    const { clock, core, started, ends } = twoQueriesOnOneCpu();
    clock.set(3);
    core.complete(started[0].run, 3000);
    core.decide();
    clock.set(7.5);
    core.complete(started[1].run, 4500);
    core.decide();
    const byId = new Map(ends.map((e) => [e.id, e]));
    assert.equal(byId.get('q0')?.longestBlockMs, 4.5);
    assert.equal(byId.get('q1')?.longestBlockMs, 0);
  });

  it("excuses a query's lateness only up to its block's own end, not until the engine heard of it", () => {
    // A 5 ms target; the block ends at 6 ms, the engine (paused, say) hears of it at 9 ms.
    const { clock, core, started, ends } = engine(lossPolicy(), { expireLate: true });
    core.arrive('m', 0);
    core.decide();
    clock.set(9);
    core.complete(started[0].run, 6000, 6);
    core.decide();
    assert.equal(ends[0].latencyMs, 9);
    assert.equal(ends[0].blockOverrunMs, 1);
    assert.equal(
      ends[0].longestBlockMs,
      6,
      'the block is long to its own end, not to when the engine heard of it',
    );
  });

  it('ends a query whose block failed with the error and frees its CPUs', () => {
    const { clock, core, started, ends } = engine(lossPolicy());
    core.arrive('m', 0);
    core.decide();
    clock.set(0.5);
    core.fail(started[0].run, 'kernel exploded');
    assert.equal(ends[0].outcome, 'failed');
    assert.equal(ends[0].error, 'kernel exploded');
    assert.equal(core.ledger.free, 2);
    assert.equal(core.missCount, 1);
  });

  it('serves a changed set of models with a new policy, and refuses to drop a model with a query inside', () => {
    const { clock, core, started, ends } = engine(lossPolicy());
    core.arrive('m', 0);
    core.decide();
    const withN = {
      predictors: predictorsOf(flatProfile('n', 1000)),
      qosTargetMs: { n: 5 },
      policy: lossPolicy(),
    };
    assert.throws(() => core.setTenants(withN), /model 'm' still has query q0 inside/);
    clock.set(1);
    core.complete(started[0].run, 1000);
    core.decide();
    core.setTenants(withN);
    assert.throws(() => core.arrive('m', 1), /unknown model 'm'/);
    core.arrive('n', 1);
    core.decide();
    assert.equal(started[1].model, 'n');
    clock.set(2);
    core.complete(started[1].run, 1000);
    assert.deepEqual(
      ends.map((e) => [e.model, e.outcome]),
      [
        ['m', 'completed'],
        ['n', 'completed'],
      ],
    );
  });

  it('keeps a held CPU from the policy until the hold is released', () => {
    const { core, started, ends } = engine(lossPolicy(), { cpus: [6, 9] });
    const hold = core.holdCpu(6);
    assert.throws(() => core.holdCpu(6), /CPU 6, which is not free/);
    core.arrive('m', 0);
    core.arrive('m', 0);
    core.decide();
    assert.deepEqual(
      started.map((b) => b.cpus),
      [[9]],
    );
    assert.equal(ends[0].reason, 'deadline_unreachable', "the held CPU is not the policy's to give");
    core.releaseHold(hold, 6);
    assert.equal(core.ledger.free, 1);
    assert.equal(checkLedgerTrace(core.ledgerTrace, 2), 2);
  });

  it('rejects every waiting query when aborted, and times each decide', () => {
    const idle: Policy = { name: 'idle', decide: () => [] };
    const { core, ends } = engine(idle);
    core.arrive('m', 0);
    core.arrive('m', 0);
    core.decide();
    core.abortWaiting();
    assert.deepEqual(
      ends.map((e) => e.reason),
      ['aborted', 'aborted'],
    );
    assert.equal(core.stats().decideMs.length, 1);
  });
});
