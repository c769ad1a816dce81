import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeQuery, makeView } from './testing.js';
import type { Decision } from './types.js';
import { validateDecisions, type DecisionRule } from './validate.js';

// The standard fixture profiles: every model has versions `fast` and `robust`.
const view = makeView()
  .cores(8, 6)
  .waiting(makeQuery().id('a').model('cnn').nextLayer(2), makeQuery().id('b').model('cnn'))
  .build();
const layers = view.profile('cnn').layerCount;

const dispatch = (query: string, block: [number, number], cores: number, version = 'fast'): Decision => ({
  kind: 'dispatch',
  query,
  block,
  cores,
  version,
});

describe('validateDecisions', () => {
  it('accepts dispatches that fit the free cores and a rejection', () => {
    assert.doesNotThrow(() =>
      validateDecisions('p', view, [
        dispatch('a', [2, layers], 4),
        { kind: 'reject', query: 'b', reason: 'deadline_unreachable' },
      ]),
    );
  });

  const cases: [string, DecisionRule, Decision[]][] = [
    ['a query that is not waiting', 'unknown_query', [dispatch('zz', [0, 1], 1)]],
    [
      'the same query twice',
      'query_twice',
      [dispatch('b', [0, 1], 1), { kind: 'reject', query: 'b', reason: 'deadline_unreachable' }],
    ],
    ['zero cores', 'cores_not_positive_integer', [dispatch('b', [0, 1], 0)]],
    ['fractional cores', 'cores_not_positive_integer', [dispatch('b', [0, 1], 1.5)]],
    [
      'more cores than are free, together',
      'cores_exceed_free',
      [dispatch('a', [2, 3], 4), dispatch('b', [0, 1], 3)],
    ],
    ['a block that skips the next layer', 'block_not_at_next_layer', [dispatch('a', [3, 4], 1)]],
    ['a block that restarts a finished layer', 'block_not_at_next_layer', [dispatch('a', [1, 4], 1)]],
    ['an empty block', 'block_outside_model', [dispatch('b', [0, 0], 1)]],
    ['a block past the last layer', 'block_outside_model', [dispatch('b', [0, layers + 1], 1)]],
    ['a version the profile lacks', 'unknown_version', [dispatch('b', [0, 1], 1, 'turbo')]],
    [
      'a non-integer wantedCores',
      'wanted_cores_invalid',
      [{ ...(dispatch('b', [0, 1], 1) as Extract<Decision, { kind: 'dispatch' }>), wantedCores: 0.5 }],
    ],
  ];
  for (const [what, rule, decisions] of cases) {
    it(`rejects ${what}, naming the policy and rule ${rule}`, () => {
      assert.throws(() => validateDecisions('greedy', view, decisions), {
        code: 'policy_violation',
        details: { policy: 'greedy', rule },
        message: new RegExp(`policy 'greedy' broke rule ${rule}`),
      });
    });
  }
});
