import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeapKeeper, collectionDue } from './heap-keeper.js';

const MiB = 2 ** 20;

/** A heap that grows by what the test allocates and shrinks to its live size when collected. */
function fakeHeap(liveMiB: number) {
  const heap = {
    used: liveMiB * MiB,
    collected: 0,
    usedBytes: () => heap.used,
    collect: () => {
      heap.collected++;
      heap.used = liveMiB * MiB;
    },
  };
  return heap;
}

describe('collectionDue', () => {
  it('waits for the survivors to double, and for at least 32 MiB more', () => {
    assert.equal(collectionDue(65 * MiB, 33 * MiB), false);
    assert.equal(collectionDue(67 * MiB, 33 * MiB), true);
    assert.equal(collectionDue(199 * MiB, 100 * MiB), false, 'doubling 100 MiB is 200 MiB');
    assert.equal(collectionDue(201 * MiB, 100 * MiB), true);
    assert.equal(collectionDue(36 * MiB, 5 * MiB), false, '5 MiB + 32 MiB at least');
    assert.equal(collectionDue(38 * MiB, 5 * MiB), true);
  });
});

describe('HeapKeeper', () => {
  it('collects once garbage has grown past the bound, and not before', () => {
    const heap = fakeHeap(33);
    const keeper = new HeapKeeper(heap);
    heap.used += 32 * MiB;
    keeper.check();
    assert.equal(heap.collected, 0);
    heap.used += 2 * MiB;
    keeper.check();
    assert.equal(heap.collected, 1);
    assert.equal(heap.used, 33 * MiB);
  });

  it('measures the bound from what the last collection kept: live growth raises it', () => {
    const heap = fakeHeap(33);
    const keeper = new HeapKeeper(heap);
    heap.collect = () => {
      heap.collected++;
      heap.used = 50 * MiB; // more of the heap is alive by now
    };
    heap.used = 67 * MiB;
    keeper.check();
    assert.equal(heap.collected, 1, '67 MiB is past 33 + 33');
    heap.used = 99 * MiB;
    keeper.check();
    assert.equal(heap.collected, 1, 'the bound is now 50 + 50 MiB');
    heap.used = 101 * MiB;
    keeper.check();
    assert.equal(heap.collected, 2);
  });

  it('takes a smaller heap as a collection V8 made itself', () => {
    const heap = fakeHeap(33);
    const keeper = new HeapKeeper(heap);
    heap.used = 30 * MiB;
    keeper.check();
    heap.used = 63 * MiB;
    keeper.check();
    assert.equal(heap.collected, 1, '63 MiB is past 30 + 32');
  });

  it('does nothing without a way to collect (node started without --expose-gc)', () => {
    const keeper = new HeapKeeper({ usedBytes: () => 500 * MiB }).start();
    keeper.check();
    keeper.stop();
    assert.equal(keeper.collections, 0);
  });
});
