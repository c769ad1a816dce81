/** A command was called wrongly (bad flag value, missing argument): exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
