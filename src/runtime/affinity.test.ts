import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { threadCpuMs } from './affinity.js';

const onLinux = process.platform === 'linux';

/** Keeps this thread busy until it has used `cpuMs` more CPU by its own count (at most `wallMs`). */
function burn(cpuMs: number, wallMs: number): number {
  const from = threadCpuMs() as number;
  const until = performance.now() + wallMs;
  let used = 0;
  while (used < cpuMs && performance.now() < until) used = (threadCpuMs() as number) - from;
  return used;
}

describe('threadCpuMs', { skip: !onLinux && 'reads /proc/thread-self' }, () => {
  it("counts the calling thread's CPU time", () => {
    assert.ok(burn(30, 10_000) >= 30, 'a busy thread sees its own CPU time grow');
  });

  it("does not count another thread's", async () => {
    const before = threadCpuMs() as number;
    // The worker spins for 300 ms of wall time while this thread only waits for it.
    const source = `const end = Date.now() + 300; while (Date.now() < end);`;
    await new Promise((resolve, reject) => {
      const w = new Worker(source, { eval: true });
      w.once('exit', resolve);
      w.once('error', reject);
    });
    const waited = (threadCpuMs() as number) - before;
    assert.ok(waited < 200, `waiting on a busy worker cost this thread ${waited} ms`);
  });
});
