/**
 * CPU time the hypervisor took from this machine's CPUs: Linux's "steal", time a virtual CPU
 * was ready to run but the host ran something else on its physical core. On a shared VM it
 * comes in bouts: over one 70 s run on the project's 2-vCPU VM it rose from under 1 % to 54 %
 * of a second, and blocks then took 1.2-2.4x their usual time
 * (docs/experiments/2026-12-07-stolen-time.md). A bench reads it to tell the service's misses
 * from the host's; a server exposes it beside its QoS counters.
 */
import { readFileSync } from 'node:fs';

/** Ticks of some CPUs (Linux counts USER_HZ ticks, 100 per second). */
export interface CpuTicks {
  /** Every state but guest time, which Linux counts inside user time already. */
  readonly total: number;
  readonly stolen: number;
}

/** Linux's USER_HZ, fixed at 100 on every architecture it runs on: /proc/stat's unit. */
export const TICKS_PER_SECOND = 100;

/** The ticks of `cpus` in /proc/stat's text; undefined when a CPU's line is missing. */
export function parseCpuTicks(procStat: string, cpus: readonly number[]): CpuTicks | undefined {
  const lines = new Map<number, number[]>();
  for (const line of procStat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m) lines.set(Number(m[1]), m[2].trim().split(/\s+/).map(Number));
  }
  let total = 0;
  let stolen = 0;
  for (const cpu of cpus) {
    const fields = lines.get(cpu);
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    if (!fields || fields.length < 8 || fields.some((f) => !Number.isFinite(f))) return undefined;
    total += fields.slice(0, 8).reduce((a, b) => a + b, 0);
    stolen += fields[7];
  }
  return { total, stolen };
}

/** The ticks of `cpus` now; undefined off Linux. */
export function cpuTicks(cpus: readonly number[]): CpuTicks | undefined {
  try {
    return parseCpuTicks(readFileSync('/proc/stat', 'utf8'), cpus);
  } catch {
    return undefined;
  }
}

/** The share of the CPUs' time between two readings that the host took (0 when no time passed). */
export function stolenShare(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  return total > 0 ? (after.stolen - before.stolen) / total : 0;
}
