import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { veltair } from './testing.js';

const small = [
  'simulate',
  '--find-peak',
  '--workload',
  'light',
  '--policies',
  'model-fcfs,planaria',
  '--queries',
  '300',
];

describe('veltair simulate', () => {
  it('prints byte-identical JSON for the same seed, and one JSON document only', async () => {
    const [a, b, c] = await Promise.all([
      veltair(...small, '--seed', '3', '--json'),
      veltair(...small, '--seed', '3', '--json'),
      veltair(...small, '--seed', '4', '--json'),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.notEqual(a.stdout, c.stdout);
    const doc = JSON.parse(a.stdout);
    assert.equal(doc.schema, 'veltair.simulate/1');
    const [light] = doc.workloads;
    assert.equal(light.workload, 'light');
    assert.deepEqual(
      light.rows.map((r: { policy: string }) => r.policy),
      ['model-fcfs', 'planaria'],
    );
    for (const r of light.rows) {
      assert.ok(r.peakQps > 0 && r.ratioToPhysicalLimit < 1, JSON.stringify(r));
      // At its own peak a policy passes, and the JSON says what limited it there.
      assert.ok(r.atPeak.satisfaction >= 0.99, JSON.stringify(r.atPeak));
      assert.ok(r.atPeak.utilization > 0 && r.atPeak.meanSlowdown >= 1, JSON.stringify(r.atPeak));
    }
  });

  it('draws the satisfaction curves as an SVG with a human table on stdout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'veltair-sim-cli-'));
    try {
      const file = join(dir, 'curves.svg');
      const r = await veltair(...small, '--policies', 'model-fcfs', '--plot', file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /peak QPS/);
      assert.match(r.stdout, /^light +model-fcfs \*/m);
      assert.match(r.stdout, /At each policy's own peak/);
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
