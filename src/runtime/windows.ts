/** The CPU windows the ledger prefers (CoreLedger.take): `count` consecutive CPUs, cyclic. */
export function cpuWindows(cpus: readonly number[], counts: readonly number[]): number[][] {
  const out: number[][] = [];
  for (const count of counts) {
    if (count > cpus.length) continue;
    for (let start = 0; start < cpus.length; start++) {
      out.push(Array.from({ length: count }, (_, k) => cpus[(start + k) % cpus.length]));
    }
  }
  return out;
}
