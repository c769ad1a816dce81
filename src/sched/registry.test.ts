import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ABLATIONS,
  BASELINES,
  POLICIES,
  formatParams,
  parseParams,
  policyNames,
  policySpec,
} from './registry.js';
import { makeContext, makeQuery, makeRunning, makeView } from './testing.js';
import type { Decision, EngineView, PolicyParams, PolicySpec } from './types.js';

/** Every point of a spec's grid, merged over its defaults. */
function gridPoints(spec: PolicySpec): PolicyParams[] {
  let points: PolicyParams[] = [{ ...spec.defaults }];
  for (const [key, values] of Object.entries(spec.paramGrid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

/** The engine rules every decision must obey (DESIGN 2.3). */
function assertValid(view: EngineView, decisions: Decision[]): void {
  const seen = new Set<string>();
  let cores = 0;
  for (const d of decisions) {
    const q = view.waiting.find((w) => w.id === d.query);
    assert.ok(q, `decision for unknown query ${d.query}`);
    assert.ok(!seen.has(d.query), `query ${d.query} decided twice`);
    seen.add(d.query);
    if (d.kind === 'reject') continue;
    const pred = view.profile(q.model);
    assert.equal(d.block[0], q.nextLayer);
    assert.ok(d.block[1] > d.block[0] && d.block[1] <= pred.layerCount, `block ${d.block}`);
    assert.ok(Number.isInteger(d.cores) && d.cores >= 1, `cores ${d.cores}`);
    assert.ok(pred.versions.includes(d.version), `version ${d.version}`);
    cores += d.cores;
  }
  assert.ok(cores <= view.freeCores, `${cores} cores dispatched, ${view.freeCores} free`);
}

const views: EngineView[] = [
  makeView().waiting(makeQuery()).build(),
  makeView()
    .nowMs(3)
    .cores(64, 20)
    .interference(1.5)
    .conflictRate(0.5)
    .load(0.9)
    .running(makeRunning('r', 'cnn', 44, 4))
    .waiting(
      ...Array.from({ length: 12 }, (_, k) =>
        makeQuery()
          .id(`q${k}`)
          .model(k % 3 ? 'cnn' : 'tiny')
          .arrivalMs(k * 0.2)
          .deadlineMs(k * 0.2 + 4 + (k % 4))
          .nextLayer(k % 3 ? k % 8 : k % 2),
      ),
    )
    .build(),
  makeView().nowMs(20).cores(8, 0).waiting(makeQuery().deadlineMs(10)).build(),
];

describe('policy registry', () => {
  it('lists veltair, five baselines and two ablations', () => {
    assert.deepEqual(policyNames(), ['veltair', ...BASELINES, ...ABLATIONS]);
  });

  it('names the known policies when asked for an unknown one', () => {
    assert.throws(
      () => policySpec('fifo'),
      /unknown policy 'fifo' \(known: veltair, static-partition, .*veltair-1v\)/,
    );
    assert.throws(() => policySpec('toString'), /unknown policy/);
  });

  for (const spec of Object.values(POLICIES)) {
    it(`${spec.name}: every grid point makes decisions the engine accepts, the same on replay`, () => {
      for (const params of gridPoints(spec)) {
        const policy = spec.create(params, makeContext());
        assert.equal(policy.name, spec.name);
        for (const view of views) {
          const decisions = policy.decide(view);
          assertValid(view, decisions);
          assert.deepEqual(policy.decide(view), decisions);
        }
      }
    });

    it(`${spec.name}: defaults cover every grid parameter`, () => {
      for (const key of Object.keys(spec.paramGrid)) assert.ok(key in spec.defaults, key);
      assert.ok(spec.summary.length > 0);
    });
  }
});

describe('parseParams', () => {
  it('sets the named parameters over the defaults', () => {
    const spec = policySpec('veltair');
    const p = parseParams(spec, 'blockSpan=0.5,conflictSensitivity=0');
    assert.deepEqual(p, { ...spec.defaults, blockSpan: 0.5, conflictSensitivity: 0 });
    assert.equal(formatParams({ blockSpan: 0.5, drop: 2 }), 'blockSpan=0.5 drop=2');
  });

  it('refuses a name the policy does not take, or a value that is not a number', () => {
    const spec = policySpec('layer-wise');
    assert.throws(
      () => parseParams(spec, 'blockSpan=0.5'),
      /'blockSpan=0.5' is not a parameter.*budgetFactor/,
    );
    assert.throws(() => parseParams(spec, 'budgetFactor=fast'), /budgetFactor=fast/);
    assert.throws(() => parseParams(spec, 'budgetFactor='), /budgetFactor=/);
    assert.throws(() => parseParams(spec, 'budgetFactor'), /budgetFactor/);
  });
});
