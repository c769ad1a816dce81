import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Doorbell } from './doorbell.js';

describe('the doorbell a block worker sleeps on', () => {
  it('loses no ring that came between the reading and the sleep', { timeout: 5000 }, () => {
    const bell = new Doorbell();
    const reading = bell.reading();
    bell.ring();
    bell.sleep(reading);
    assert.equal(bell.reading(), reading + 1);
  });

  it('wakes a thread sleeping on it from another thread', { timeout: 10_000 }, async () => {
    const bell = new Doorbell();
    // The sleeper reports each wake-up and goes back to sleep, until rung three times.
    const sleeper = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.module).then(({ Doorbell }) => {
         const bell = new Doorbell(workerData.memory);
         for (let seen = 0; seen < 3; ) {
           bell.sleep(seen);
           seen = bell.reading();
           parentPort.postMessage(seen);
         }
       });`,
      {
        eval: true,
        workerData: { memory: bell.memory, module: new URL('./doorbell.js', import.meta.url).href },
      },
    );
    const woke: number[] = [];
    const finished = new Promise<void>((resolve) => sleeper.on('exit', () => resolve()));
    sleeper.on('message', (seen: number) => {
      woke.push(seen);
      if (seen < 3) bell.ring();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    bell.ring();
    await finished;
    assert.deepEqual(woke, [1, 2, 3]);
  });
});
