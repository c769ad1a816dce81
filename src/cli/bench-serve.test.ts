import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targetLines } from './bench-serve.js';

const run = (policy: string, http: Record<string, number>, inProcess?: Record<string, number>) => ({
  policy,
  report: { qosTargetMs: http },
  inProcess: inProcess ? { peakQps: 30, simQps: 32, qosTargetMs: inProcess } : null,
});

describe('bench-serve', () => {
  it('states the QoS targets once when every run had the same, whatever their key order', () => {
    const lines = targetLines([
      run('naive', { a: 20, b: 50 }),
      run('veltair', { b: 50, a: 20 }, { a: 20, b: 50 }),
    ]);
    assert.deepEqual(lines, ['QoS targets (ms), the same in every run: a 20, b 50']);
  });

  it('names the runs of each set of QoS targets when they differ', () => {
    const lines = targetLines([run('naive', { a: 20 }), run('veltair', { a: 20 }, { a: 22 })]);
    assert.deepEqual(lines, [
      'QoS targets (ms) a 20: naive (HTTP), veltair (HTTP)',
      'QoS targets (ms) a 22: veltair (in process)',
    ]);
  });
});
