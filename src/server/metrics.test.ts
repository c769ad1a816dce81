import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerMetrics, type ServerGauges } from './metrics.js';

function gauges(scale: ReadonlyMap<number, number>): ServerGauges {
  return {
    queueDepth: () => 0,
    models: () => ['m'],
    cpusBusy: () => 0,
    interference: () => 0,
    sessions: () => 0,
    threads: () => 2,
    cpus: () => [0, 1],
    policy: () => ({ name: 'veltair', params: '' }),
    unitScale: () => scale,
  };
}

describe('the unit scale metric', () => {
  it('gives the factor the units are planned at by CPU count, and no series while planned as measured', async () => {
    const learned = await new ServerMetrics(
      gauges(
        new Map([
          [1, 1.2],
          [2, 1.45],
        ]),
      ),
    ).registry.metrics();
    assert.match(learned, /^veltair_unit_scale\{cpus="1"\} 1\.2$/m);
    assert.match(learned, /^veltair_unit_scale\{cpus="2"\} 1\.45$/m);
    const measured = await new ServerMetrics(gauges(new Map())).registry.metrics();
    assert.doesNotMatch(measured, /^veltair_unit_scale\{/m);
  });
});

describe('the engine thread metric', () => {
  it(
    'counts the CPU time of the thread it is scraped on, which runs the engine',
    { skip: process.platform !== 'linux' && 'reads /proc/thread-self' },
    async () => {
      const metrics = new ServerMetrics(gauges(new Map()));
      const read = async () =>
        Number(
          (await metrics.registry.metrics()).match(
            /^veltair_engine_thread_cpu_seconds_total ([\d.e+-]+)$/m,
          )?.[1],
        );
      const before = await read();
      const until = performance.now() + 10_000;
      let after = before;
      while (after - before < 0.02 && performance.now() < until) after = await read();
      assert.ok(after - before >= 0.02, `scraping in a loop counted ${after - before} s`);
    },
  );
});
