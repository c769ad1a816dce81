import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { veltair } from './testing.js';

// The protocol shortened to seconds (printed as deviations): 1,000-query looks up to 4,000.
const small = [
  'simulate',
  '--find-peak',
  '--workload',
  'light',
  '--policies',
  'model-fcfs,static-partition',
  '--max-queries',
  '4000',
  '--chunk-queries',
  '1000',
  '--tuning-seeds',
  '11',
  '--truth',
  'profile',
  '--queries',
  '300',
];

describe('veltair simulate', () => {
  it('prints byte-identical JSON for the same seed, and one JSON document only', async () => {
    const [a, b, c] = await Promise.all([
      veltair(...small, '--reporting-seeds', '1,2', '--json'),
      veltair(...small, '--reporting-seeds', '1,2', '--json'),
      veltair(...small, '--reporting-seeds', '1,3', '--json'),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.notEqual(a.stdout, c.stdout);
    const doc = JSON.parse(a.stdout);
    assert.equal(doc.schema, 'veltair.simulate/2');
    assert.ok(
      doc.deviations.some((d: string) => /up to 4000/.test(d)),
      'a shortened run says so',
    );
    const [light] = doc.workloads;
    assert.equal(light.workload, 'light');
    assert.equal(light.truth, 'profile');
    assert.deepEqual(
      light.rows.map((r: { policy: string }) => r.policy),
      ['model-fcfs', 'static-partition'],
    );
    // The idealised reference is decided by the same test: a peak below the physical limit.
    assert.ok(light.idealQps > 0 && light.idealQps < light.physicalLimitQps, JSON.stringify(light));
    for (const r of light.rows) {
      assert.ok(r.peakQps > 0 && r.ratioToPhysicalLimit < 1, JSON.stringify(r));
      assert.equal(r.ratioToIdeal, Math.round((r.peakQps / light.idealQps) * 1000) / 1000);
      // The printed peak passed on every reporting seed, every model under 1 % misses.
      for (const seed of [1, 2])
        assert.ok(
          r.decisions.some(
            (d: { qps: number; seed: number; verdict: string }) =>
              d.qps === r.peakQps && d.seed === seed && d.verdict === 'pass',
          ),
          `${r.policy} passed at ${r.peakQps} on seed ${seed}`,
        );
      for (const m of r.atPeak.models) assert.ok(m.upperMissRate < 0.01, JSON.stringify(m));
      assert.equal(r.perSeed.length, 2);
      assert.ok(r.atPeak.utilization > 0 && r.atPeak.meanSlowdown >= 1, JSON.stringify(r.atPeak));
    }
  });

  it('says when it follows the protocol, and runs the hidden machine under both truth settings', async () => {
    const both = await veltair(
      ...small.filter((_, i, all) => all[i - 1] !== '--truth' && all[i] !== '--truth'),
      '--policies',
      'static-partition',
      '--reporting-seeds',
      '1',
    );
    assert.equal(both.code, 0, both.stderr);
    assert.match(
      both.stdout,
      /NOT the protocol of docs\/evaluation.md: runs of 1000-query chunks up to 4000/,
    );
    assert.match(both.stdout, /^light +profile +static-partition \*/m);
    assert.match(both.stdout, /^light +measured-error +static-partition \*/m);
  });

  it('draws the satisfaction curves as an SVG with a human table on stdout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'veltair-sim-cli-'));
    try {
      const file = join(dir, 'curves.svg');
      const r = await veltair(...small, '--policies', 'model-fcfs', '--plot', file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /peak QPS/);
      assert.match(r.stdout, /^light +profile +model-fcfs \*/m);
      assert.match(r.stdout, /At each policy's confirmed peak/);
      const svg = await readFile(file, 'utf8');
      assert.match(svg, /^<svg/);
      assert.match(svg, /model-fcfs/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs every policy once at a fixed rate with --qps', async () => {
    const r = await veltair('simulate', '--qps', '50', '--workload', 'heavy', '--queries', '200', '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.mode, 'fixed-qps');
    assert.ok(doc.results[0].rows.length >= 1);
  });

  const bad: [string[], RegExp][] = [
    [['simulate'], /give --find-peak or --qps/],
    [['simulate', '--qps', '-1'], /--qps must be a number/],
    [['simulate', '--qps', '10', '--cores', '2.5'], /--cores must be an integer/],
    [['simulate', '--qps', '10', '--workload', 'huge'], /unknown workload 'huge'/],
    [['simulate', '--qps', '10', '--policies', 'nope'], /unknown policy 'nope'/],
    [
      ['simulate', '--qps', '10', '--profiles', 'local', '--repository', '/nonexistent'],
      /no such model repository/,
    ],
  ];
  for (const [args, message] of bad) {
    it(`answers '${args.slice(1).join(' ')}' with a one-line error`, async () => {
      const r = await veltair(...args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }
});
