/**
 * The one check every engine runs on a policy's decisions before starting anything.
 * A violation is a bug in the policy: it throws, naming the policy, the rule and the query.
 */
import { VeltairError } from '../errors/index.js';
import type { Decision, EngineView, Query } from './types.js';

/** The rules a decision list must keep; the names appear in error messages. */
export type DecisionRule =
  | 'unknown_query'
  | 'query_twice'
  | 'cores_not_positive_integer'
  | 'cores_exceed_free'
  | 'block_not_at_next_layer'
  | 'block_outside_model'
  | 'unknown_version'
  | 'wanted_cores_invalid';

/**
 * Checks decisions against the view they were made from: each names a waiting query at most
 * once; a dispatch uses a whole number of cores >= 1, all dispatches together use at most
 * the free cores, its block is [nextLayer, j) with nextLayer < j <= layer count, and its
 * version is one the model's profile has.
 */
export function validateDecisions(policy: string, view: EngineView, decisions: readonly Decision[]): void {
  // Few decisions against a short queue (the common case): a scan beats building a map.
  const small = decisions.length * view.waiting.length <= 256;
  const index = small ? undefined : new Map(view.waiting.map((q) => [q.id, q]));
  const seen = small ? undefined : new Set<string>();
  let cores = 0;
  // No closures here (this runs at every decision): the helpers below take what they need.
  for (let k = 0; k < decisions.length; k++) {
    const d = decisions[k];
    const q = index ? index.get(d.query) : waitingById(view.waiting, d.query);
    if (!q) violation(policy, 'unknown_query', `query '${d.query}' is not waiting`);
    if (seen ? seen.has(d.query) : seenBefore(decisions, k))
      violation(policy, 'query_twice', `query '${d.query}' appears twice`);
    seen?.add(d.query);
    if (d.kind !== 'dispatch' || !q) continue;
    if (!Number.isInteger(d.cores) || d.cores < 1)
      violation(policy, 'cores_not_positive_integer', `query '${d.query}' asks for ${d.cores} cores`);
    if (d.wantedCores !== undefined && !(Number.isInteger(d.wantedCores) && d.wantedCores >= 1))
      violation(policy, 'wanted_cores_invalid', `query '${d.query}' declares wantedCores ${d.wantedCores}`);
    cores += d.cores;
    if (cores > view.freeCores)
      violation(
        policy,
        'cores_exceed_free',
        `dispatches ask for ${cores} cores but ${view.freeCores} are free`,
      );
    const [i, j] = d.block;
    if (i !== q.nextLayer)
      violation(
        policy,
        'block_not_at_next_layer',
        `query '${d.query}' block starts at ${i}, next layer is ${q.nextLayer}`,
      );
    const pred = view.profile(q.model);
    if (!Number.isInteger(j) || j <= i || j > pred.layerCount)
      violation(
        policy,
        'block_outside_model',
        `query '${d.query}' block [${i}, ${j}) outside ${q.model}'s ${pred.layerCount} layers`,
      );
    if (!pred.versions.includes(d.version))
      violation(
        policy,
        'unknown_version',
        `query '${d.query}' version '${d.version}' not in ${q.model} (${pred.versions.join(', ')})`,
      );
  }
}

function violation(policy: string, rule: DecisionRule, detail: string): never {
  throw new VeltairError('policy_violation', `policy '${policy}' broke rule ${rule}: ${detail}`, {
    details: { policy, rule },
  });
}

function waitingById(waiting: readonly Query[], id: string): Query | undefined {
  for (const q of waiting) if (q.id === id) return q;
  return undefined;
}

/** Whether a decision before the k-th names the same query. */
function seenBefore(decisions: readonly Decision[], k: number): boolean {
  for (let m = 0; m < k; m++) if (decisions[m].query === decisions[k].query) return true;
  return false;
}
