import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { HeapKeeper, collectionDue } from './heap-keeper.js';

const MiB = 2 ** 20;

/** A heap that grows by what the test allocates and shrinks to its live size when collected. */
function fakeHeap(liveMiB: number) {
  const heap = {
    used: liveMiB * MiB,
    collected: 0,
    usedBytes: () => heap.used,
    collect: (done: () => void) => {
      heap.collected++;
      heap.used = liveMiB * MiB;
      done();
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
    heap.collect = (done) => {
      heap.collected++;
      heap.used = 50 * MiB; // more of the heap is alive by now
      done();
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

  it('starts no second collection while one is still marking, and takes its survivors once it ends', () => {
    const heap = fakeHeap(33);
    let finish = () => {};
    heap.collect = (done) => {
      heap.collected++;
      finish = () => {
        heap.used = 40 * MiB;
        done();
      };
    };
    const keeper = new HeapKeeper(heap);
    heap.used = 70 * MiB;
    keeper.check(0);
    heap.used = 90 * MiB;
    keeper.check(1000);
    assert.equal(heap.collected, 1, 'the first cycle has not ended');
    assert.equal(keeper.collections, 0);
    finish();
    assert.equal(keeper.collections, 1);
    heap.used = 79 * MiB;
    keeper.check(2000);
    assert.equal(heap.collected, 1, 'the bound is now 40 + 40 MiB');
    heap.used = 81 * MiB;
    keeper.check(3000);
    assert.equal(heap.collected, 2);
  });

  it('finishes at once a cycle that has marked for more than five seconds', () => {
    const heap = fakeHeap(33);
    let pending: (() => void) | undefined;
    let finishedNow = 0;
    heap.collect = (done) => {
      heap.collected++;
      pending = done;
    };
    const keeper = new HeapKeeper({
      ...heap,
      finishNow: () => {
        finishedNow++;
        pending?.();
      },
    });
    heap.used = 70 * MiB;
    keeper.check(0);
    keeper.check(4000);
    assert.equal(finishedNow, 0);
    keeper.check(5001);
    assert.equal(finishedNow, 1);
    assert.equal(keeper.collections, 1);
  });

  it('collects once when it starts: what starting up left behind is garbage', () => {
    const heap = fakeHeap(20);
    heap.used = 45 * MiB;
    const keeper = new HeapKeeper(heap).start();
    keeper.stop();
    assert.equal(heap.collected, 1);
    assert.equal(heap.used, 20 * MiB);
  });

  it('collects at once when idle, ending a cycle still marking first, and measures the bound from it', () => {
    const heap = fakeHeap(33);
    const calls: string[] = [];
    let pending: (() => void) | undefined;
    heap.collect = (done) => {
      calls.push('cycle');
      pending = done;
    };
    const keeper = new HeapKeeper({
      ...heap,
      finishNow: () => {
        calls.push('finish');
        pending?.();
        pending = undefined;
      },
      collectAtOnce: () => {
        calls.push('atOnce');
        heap.used = 40 * MiB;
      },
    });
    heap.used = 70 * MiB;
    keeper.check(0);
    keeper.collectIdle();
    assert.deepEqual(calls, ['cycle', 'finish', 'atOnce']);
    assert.equal(keeper.collections, 2);
    heap.used = 79 * MiB;
    keeper.check(1000);
    assert.equal(calls.length, 3, 'the bound is now 40 + 40 MiB');
    heap.used = 81 * MiB;
    keeper.check(2000);
    assert.deepEqual(calls, ['cycle', 'finish', 'atOnce', 'cycle']);
  });

  it('does nothing without a way to collect (node started without --expose-gc)', () => {
    const keeper = new HeapKeeper({ usedBytes: () => 500 * MiB }).start();
    keeper.check();
    keeper.collectIdle();
    keeper.stop();
    assert.equal(keeper.collections, 0);
  });
});

describe('HeapKeeper in a process started as the launcher starts it', () => {
  it('marks its collection in steps and ends it with a short pause, not one atomic mark', () => {
    const keeper = new URL('./heap-keeper.js', import.meta.url).href;
    const script = `
      import { HeapKeeper } from ${JSON.stringify(keeper)};
      globalThis.kept = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
      for (let i = 0; i < 50; i++) globalThis.garbage = Array.from({ length: 20000 }, (_, j) => ({ j }));
      const k = new HeapKeeper().start();
      const tick = setInterval(() => {
        globalThis.garbage = Array.from({ length: 2000 }, (_, j) => ({ j }));
        if (k.collections === 0) return;
        clearInterval(tick);
        k.stop();
        console.log('collections', k.collections);
      }, 1);`;
    const run = spawnSync(
      process.execPath,
      [
        '--single-threaded-gc',
        '--no-incremental-marking',
        '--expose-gc',
        '--trace-gc',
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /collections 1/);
    const fullCollections = run.stdout.split('\n').filter((line) => line.includes('Mark-Compact'));
    const keepers = fullCollections.filter((line) => line.includes('finalize incremental marking'));
    assert.equal(keepers.length, 1, fullCollections.join('\n'));
    assert.match(keepers[0] ?? '', /steps since start of marking/);
  });
});
