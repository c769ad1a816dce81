import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { encodeModel } from '../onnx/index.js';
import { residualModel } from '../partition/fixtures.js';
import { openSession, sessionOptions } from './session.js';

/** Each thread of this process with the CPUs its mask allows (Linux). */
function threadMasks(): Map<string, string> {
  const masks = new Map<string, string>();
  for (const tid of readdirSync('/proc/self/task')) {
    const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    masks.set(tid, /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '');
  }
  return masks;
}

describe('session options', () => {
  it('never leave ORT its defaults: threads, spinning and one inter-op thread are explicit', () => {
    const options = sessionOptions({ threads: 2, optimization: 'extended', spinning: false });
    assert.equal(options.intraOpNumThreads, 2);
    assert.equal(options.interOpNumThreads, 1);
    assert.deepEqual(options.extra, { session: { intra_op: { allow_spinning: '0' } } });
  });

  it('block sessions keep values on the shared heap; a model run whole gets an arena of its own', () => {
    const block = sessionOptions({ threads: 1, optimization: 'all', spinning: false });
    assert.equal(block.enableCpuMemArena, false);
    assert.equal(block.enableMemPattern, false);
    const whole = sessionOptions({ threads: 1, optimization: 'all', spinning: false, memory: 'arena' });
    assert.equal(whole.enableCpuMemArena, true);
    assert.equal(whole.enableMemPattern, true);
  });

  it('pool CPUs become ORT thread affinities, counted from 1, one per pool thread', () => {
    const options = sessionOptions({ threads: 3, optimization: 'all', spinning: true, poolCpus: [0, 5] });
    assert.deepEqual(options.extra, {
      session: { intra_op: { allow_spinning: '1' }, intra_op_thread_affinities: '1;6' },
    });
    const single = sessionOptions({ threads: 1, optimization: 'all', spinning: false, poolCpus: [] });
    assert.deepEqual(
      single.extra,
      { session: { intra_op: { allow_spinning: '0' } } },
      'one thread has no pool',
    );
  });

  it('pool CPUs that do not match the thread count are refused', () => {
    assert.throws(
      () => sessionOptions({ threads: 2, optimization: 'all', spinning: false, poolCpus: [] }),
      /poolCpus must list 1 CPU numbers for 2 threads/,
    );
    assert.throws(
      () => sessionOptions({ threads: 2, optimization: 'all', spinning: false, poolCpus: [-1] }),
      /poolCpus/,
    );
  });

  it("a session's pool thread runs only on the CPU it was given", async (t) => {
    if (process.platform !== 'linux' || availableParallelism() < 2) {
      t.skip('needs Linux and 2 CPUs');
      return;
    }
    const before = threadMasks();
    const mine = before.get(String(process.pid)) ?? '';
    const cpu = Math.max(...mine.split(/[,-]/).map(Number));
    const bytes = encodeModel(residualModel().model);
    const session = await openSession(bytes, {
      threads: 2,
      optimization: 'all',
      spinning: false,
      poolCpus: [cpu],
    });
    try {
      // ORT's pool thread pins itself once it starts running, after the session is returned:
      // under load that can take a while, so the masks are read until it has (or 5 s pass).
      const newThreadMasks = (): string[] =>
        [...threadMasks()].filter(([tid]) => !before.has(tid)).map(([, mask]) => mask);
      let created = newThreadMasks();
      for (const deadline = Date.now() + 5000; !created.includes(String(cpu)) && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        created = newThreadMasks();
      }
      assert.ok(created.includes(String(cpu)), `new threads' masks: ${created.join(' | ')}`);
    } finally {
      await session.release();
    }
  });
});
