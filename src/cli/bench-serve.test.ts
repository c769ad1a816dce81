import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { paramLines, targetLines } from './bench-serve.js';

const run = (
  policy: string,
  http: Record<string, number>,
  inProcess?: Record<string, number>,
  params = { server: 'x=1', inProcess: 'x=1' },
) => ({
  policy,
  report: { qosTargetMs: http },
  serverParams: params.server,
  inProcess: inProcess ? { peakQps: 30, simQps: 32, qosTargetMs: inProcess, params: params.inProcess } : null,
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

  it("says what each policy ran with, and where the server's choice differs from the in-process one", () => {
    const lines = paramLines([
      { ...run('naive', { a: 20 }), serverParams: '' },
      run('layer-wise', { a: 20 }, { a: 20 }),
      run('veltair', { a: 20 }, { a: 20 }, { server: 'blockSpan=0.5', inProcess: 'blockSpan=0.15' }),
      run('model-fcfs', { a: 20 }),
    ]);
    assert.deepEqual(lines, [
      'layer-wise parameters (server and in process): x=1',
      'veltair parameters: server blockSpan=0.5; in process blockSpan=0.15',
      'model-fcfs parameters (server): x=1',
    ]);
  });
});
