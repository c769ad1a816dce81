import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memorySlowdowns, memoryStretch, THREADRIPPER_3990X_MEMORY, type MemoryLoad } from './memory.js';

const MIB = 1024 * 1024;
const system = THREADRIPPER_3990X_MEMORY;

function load(over: Partial<MemoryLoad> & { cpus: readonly number[] }): MemoryLoad {
  return { demandGBps: 10, memoryShare: 0.8, workingSetBytes: 1 * MIB, ...over };
}

/** `n` blocks of 4 CPUs each on complexes of their own. */
function apart(n: number, over: Partial<MemoryLoad> = {}): MemoryLoad[] {
  return Array.from({ length: n }, (_, k) =>
    load({ ...over, cpus: [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3] }),
  );
}

describe('memory system', () => {
  it('does not slow a block that runs alone, whatever it demands', () => {
    for (const demandGBps of [1, 100, 1000]) {
      const [slowdown] = memorySlowdowns(apart(1, { demandGBps, workingSetBytes: 64 * MIB }), system);
      assert.equal(slowdown, 1);
    }
  });

  it('barely slows blocks whose demand DRAM sustains', () => {
    // 4 x 10 GB/s against 76.8 sustained: about half the bandwidth.
    const slowdowns = memorySlowdowns(apart(4), system);
    for (const s of slowdowns) assert.ok(s > 1 && s < 1.03, `slowdown ${s}`);
  });

  it('slows memory-bound work in proportion to demand once bandwidth saturates', () => {
    const at = (n: number) => memorySlowdowns(apart(n), system)[0];
    // 16 and 32 blocks ask 2.1x and 4.2x what DRAM sustains: memory time about doubles again.
    const excess16 = (at(16) - 1) / 0.8;
    const excess32 = (at(32) - 1) / 0.8;
    assert.ok(Math.abs((1 + excess32) / (1 + excess16) - 2) < 0.1, `${at(16)} -> ${at(32)}`);
  });

  it('slows only the memory-bound share of a block', () => {
    const bound = memorySlowdowns(apart(16, { memoryShare: 0.8 }), system)[0];
    const light = memorySlowdowns(apart(16, { memoryShare: 0.2 }), system)[0];
    assert.ok(Math.abs((bound - 1) / (light - 1) - 4) < 1e-9, `${bound} vs ${light}`);
  });

  it('slows blocks sharing a core complex whose working sets overflow its L3 more than the same blocks apart', () => {
    const big = { workingSetBytes: 12 * MIB };
    const shared = memorySlowdowns([load({ ...big, cpus: [0, 1] }), load({ ...big, cpus: [2, 3] })], system);
    const separate = memorySlowdowns(
      [load({ ...big, cpus: [0, 1] }), load({ ...big, cpus: [4, 5] })],
      system,
    );
    // 24 MiB on a 16 MiB L3: a third misses.
    assert.ok(shared[0] > separate[0] + 0.2, `shared ${shared[0]} vs apart ${separate[0]}`);
    assert.deepEqual(shared[0], shared[1]);
  });

  it('costs nothing for sharing a complex whose L3 holds both working sets', () => {
    const small = { workingSetBytes: 4 * MIB };
    const shared = memorySlowdowns(
      [load({ ...small, cpus: [0, 1] }), load({ ...small, cpus: [2, 3] })],
      system,
    );
    const separate = memorySlowdowns(
      [load({ ...small, cpus: [0, 1] }), load({ ...small, cpus: [4, 5] })],
      system,
    );
    assert.deepEqual(shared, separate);
  });

  it('stretches memory time little below saturation and in proportion above it', () => {
    assert.equal(memoryStretch(0, 4), 1);
    assert.ok(memoryStretch(0.5, 4) < 1.02);
    assert.ok(Math.abs(memoryStretch(3, 4) - 3) < 0.05);
  });
});
