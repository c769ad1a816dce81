/**
 * Golden trace summaries: a short seeded run per registered policy (defaults) and of a
 * reference policy, hashed decision by decision. Any change of decisions (policy, engine,
 * profiles, arrivals) changes a hash here. When a change is intended, regenerate with
 * `VELTAIR_UPDATE_GOLDEN=1 node --test dist/load/golden.test.js` and commit the file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { POLICIES, type PolicySpec } from '../sched/index.js';
import { loadProfileSource } from '../sim/index.js';
import { layerFcfsPolicy } from '../engine/testing.js';
import { runPoint } from './evaluate.js';
import { prepareScenarios } from './setup.js';

const GOLDEN = fileURLToPath(new URL('../../src/load/testdata/golden-traces.json', import.meta.url));
const update = process.env.VELTAIR_UPDATE_GOLDEN === '1';

interface Summary {
  traceHash: string;
  satisfied: number;
  rejected: number;
  decisions: number;
  decideCalls: number;
}

const reference: PolicySpec = {
  name: 'reference-layer-fcfs',
  summary: 'test fixture: FCFS, one layer per block on 8 cores',
  role: 'baseline',
  paramGrid: {},
  defaults: {},
  create: () => layerFcfsPolicy(8),
};

describe('golden trace summaries', () => {
  const [medium] = prepareScenarios(loadProfileSource('threadripper-3990x', '/nonexistent'), ['medium'], {
    totalCores: 64,
    queries: 300,
    seed: 42,
  });
  const actual: Record<string, Summary> = {};
  for (const spec of [reference, ...Object.values(POLICIES)]) {
    const r = runPoint(medium.scenario, spec, spec.defaults, 80, { trace: true });
    actual[spec.name] = {
      traceHash: r.traceHash ?? '',
      satisfied: r.satisfied,
      rejected: r.rejected,
      decisions: r.decisions,
      decideCalls: r.decideCalls,
    };
  }
  if (update) writeFileSync(GOLDEN, JSON.stringify(actual, null, 2) + '\n');
  const golden: Record<string, Summary> = existsSync(GOLDEN) ? JSON.parse(readFileSync(GOLDEN, 'utf8')) : {};

  for (const name of Object.keys(actual)) {
    it(`${name} makes the same decisions as recorded`, () => {
      assert.ok(golden[name], `no golden summary for ${name}: run with VELTAIR_UPDATE_GOLDEN=1`);
      assert.deepEqual(actual[name], golden[name]);
    });
  }
});
