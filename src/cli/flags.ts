import { VeltairError } from '../errors/index.js';
import { NAIVE, PROTOCOL_TEST, type PeakConfirmation } from '../load/index.js';
import { parseParams, policySpec, type PolicyParams } from '../sched/index.js';

/** Commander's collector for a flag given several times: every value, in order. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A numeric flag's value: a number (an integer when `integer`) of at least `min`. */
export function numberFlag(flag: string, text: string, min: number, integer: boolean): number {
  // Number('') is 0: a blank value would pass as zero.
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new VeltairError(
      'invalid_argument',
      `${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${text}'`,
    );
  return n;
}

/** A comma-separated list of seeds (non-negative integers), each once. */
export function seedList(flag: string, text: string): number[] {
  const seeds = text.split(',').map((t) => numberFlag(flag, t.trim(), 0, true));
  return [...new Set(seeds)];
}

/** An integer flag's value in [min, max]. */
export function integerFlag(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new VeltairError(
      'invalid_argument',
      `${flag} must be an integer in [${min}, ${max}], got '${text}'`,
    );
  return n;
}

/** A TCP port flag's value (0: any free port). */
export function portFlag(flag: string, text: string): number {
  return integerFlag(flag, text, 0, 65535);
}

/** `name=number,name=number` as a record of positive numbers (model weights, for example). */
export function sharesFlag(flag: string, text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const [name, value, ...rest] = pair.trim().split('=');
    const n = Number(value);
    if (!name || value === undefined || rest.length > 0 || !(n > 0) || !Number.isFinite(n))
      throw new VeltairError('invalid_argument', `${flag} takes name=number pairs, got '${pair}'`);
    out[name] = n;
  }
  return out;
}

/**
 * `--confirm-queries N`: each 99 % peak confirmed by an N-query run (0: not confirmed), on
 * arrivals seeded apart from the search's; its miss-rate bound is reported at the protocol's
 * family-wise confidence.
 */
export function confirmFlag(text: string, searchSeed: number): PeakConfirmation | undefined {
  const queries = numberFlag('--confirm-queries', text, 0, true);
  if (queries === 0) return undefined;
  return {
    queries,
    familyAlpha: PROTOCOL_TEST.familyAlpha,
    seed: searchSeed + CONFIRM_SEED_OFFSET,
    retrySeed: searchSeed + RETRY_SEED_OFFSET,
  };
}

/** The confirming runs' seed, and that of a failed search run's second try, this far from the search's. */
const CONFIRM_SEED_OFFSET = 1000;
const RETRY_SEED_OFFSET = 2000;

/** The `--confirm-queries` default: about a thousand queries for each model of a mix of four. */
export const CONFIRM_QUERIES = '4000';
export const CONFIRM_QUERIES_HELP =
  'queries of the run that confirms a 99 % peak (every model >= 99 % over it; 0: not confirmed)';

/** `--params`: unset or `tuned`, chosen on the simulator; `defaults`, the policy's; else `k=v,...`. */
export function paramsFlag(policy: string, text: string | undefined): PolicyParams | undefined {
  if (policy === NAIVE || text === undefined || text === 'tuned') return undefined;
  const spec = policySpec(policy);
  return text === 'defaults' ? spec.defaults : parseParams(spec, text);
}
