import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreLedger, checkLedgerTrace } from './ledger.js';

describe('CoreLedger', () => {
  it('hands out named CPUs from its list, never more than are free', () => {
    const ledger = new CoreLedger([4, 5, 6, 7]);
    assert.deepEqual(ledger.take(2, 0, 0), [4, 5]);
    assert.deepEqual(ledger.take(1, 1, 0), [6]);
    assert.equal(ledger.free, 1);
    assert.throws(() => ledger.take(2, 2, 0), { code: 'ledger_violation' });
    ledger.release([4, 5], 0, 1);
    assert.equal(ledger.free, 3);
    assert.equal(ledger.maxBusy, 3);
  });

  it('starts a block on the CPUs its query ran on last when that window is free', () => {
    const ledger = new CoreLedger([0, 1, 2, 3]);
    assert.deepEqual(ledger.take(2, 0, 0, [2, 3]), [2, 3]);
    assert.deepEqual(ledger.take(2, 1, 0, [3]), [0, 1], 'CPU 3 is busy: first free window');
  });

  it('without a preference, starts at the CPU released last, whose worker is still awake', () => {
    const ledger = new CoreLedger([0, 1, 2, 3]);
    ledger.take(4, 0, 0);
    ledger.release([1], 0, 1);
    ledger.release([2], 0, 2);
    assert.deepEqual(ledger.take(1, 1, 3), [2]);
    ledger.release([0, 3], 0, 4);
    assert.deepEqual(ledger.take(2, 2, 5), [3, 0], 'the window that starts at the CPU released last');
  });

  it('orders starts by the latest release, a CPU released again moving ahead of the others', () => {
    const ledger = new CoreLedger([0, 1, 2, 3]);
    ledger.take(4, 0, 0);
    ledger.release([3, 1], 0, 1);
    assert.deepEqual(ledger.take(1, 1, 2), [1]);
    ledger.release([0], 0, 3);
    ledger.release([1], 1, 4);
    assert.deepEqual(ledger.take(1, 2, 5), [1], 'released last');
    assert.deepEqual(ledger.take(1, 3, 5), [0], 'then the one released before it');
    assert.deepEqual(ledger.take(1, 4, 5), [3]);
  });

  it('forms windows cyclically, and falls back to scattered CPUs when no window is free', () => {
    const ledger = new CoreLedger([0, 1, 2, 3]);
    ledger.take(1, 0, 0, [1]);
    ledger.take(1, 1, 0, [2]);
    assert.deepEqual(ledger.take(2, 2, 0, [3]), [3, 0], 'window 3, 0 wraps around');
    const fragmented = new CoreLedger([0, 1, 2, 3]);
    fragmented.take(1, 0, 0, [1]);
    fragmented.take(1, 1, 0, [3]);
    assert.deepEqual(fragmented.take(2, 2, 0), [0, 2]);
  });

  it('refuses to release CPUs a run does not hold', () => {
    const ledger = new CoreLedger([0, 1]);
    ledger.take(1, 7, 0);
    assert.throws(() => ledger.release([1], 7, 1), /does not hold/);
    assert.throws(() => ledger.release([0], 8, 1), /does not hold/);
  });
});

describe('checkLedgerTrace', () => {
  it('accepts a consistent trace and reports the most CPUs held at once', () => {
    const ledger = new CoreLedger([0, 1, 2], { trace: true });
    ledger.take(2, 0, 0);
    ledger.take(1, 1, 1);
    ledger.release([0, 1], 0, 2);
    ledger.take(1, 2, 3);
    assert.equal(checkLedgerTrace(ledger.trace, 3), 3);
  });

  it('rejects a CPU given to two runs, a wrong release and more CPUs than exist', () => {
    const take = (run: number, cpus: number[]) => ({ atMs: 0, kind: 'take' as const, run, cpus });
    const release = (run: number, cpus: number[]) => ({ atMs: 0, kind: 'release' as const, run, cpus });
    assert.throws(() => checkLedgerTrace([take(0, [1]), take(1, [1])], 4), /while run 0 holds it/);
    assert.throws(() => checkLedgerTrace([take(0, [1, 2]), release(0, [1])], 4), /released/);
    assert.throws(() => checkLedgerTrace([take(0, [1, 2]), take(1, [3])], 2), /3 CPUs held/);
  });
});
