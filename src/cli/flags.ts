import { VeltairError } from '../errors/index.js';

/** Commander's collector for a flag given several times: every value, in order. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A numeric flag's value: a number (an integer when `integer`) of at least `min`. */
export function numberFlag(flag: string, text: string, min: number, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new VeltairError(
      'invalid_argument',
      `${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${text}'`,
    );
  return n;
}
