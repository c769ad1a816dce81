/** Commander's collector for a flag given several times: every value, in order. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}
