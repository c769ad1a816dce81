/**
 * Which CPUs this process may use, and pinning a thread to some of them (decision 0007: on a
 * VM, a thread left to the OS is now and then woken on a busy CPU and shares it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { allowedCpus, usableCores } from '../compile/index.js';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The CPUs the process may run on, by the OS's numbering: its affinity mask, cut to the cgroup
 * quota where one is set. Read it before pinning anything: a pinned thread reads its own mask.
 */
export function processCpus(): number[] {
  const mask = allowedCpus(read('/proc/self/status'));
  const cpus = mask.length > 0 ? mask : Array.from({ length: availableParallelism() }, (_, k) => k);
  return cpus.slice(0, Math.max(1, usableCores()));
}

/**
 * Pins the calling thread (main or worker) to `cpus`. /proc/thread-self names the calling
 * thread, whose id taskset takes. Best effort: without taskset or /proc it stays unpinned;
 * `threadAllowedCpus` tells.
 */
export function pinThisThread(cpus: readonly number[]): void {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? '';
    spawnSync('taskset', ['-p', '-c', cpus.join(','), tid], { stdio: 'ignore' });
  } catch {
    // Not Linux: unpinned.
  }
}

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux nice values are per thread;
 * a thread may always lower its own). Threads it creates afterwards (ORT's pools) inherit it.
 * Best effort: false when the OS refused.
 */
export function lowerThisThreadPriority(nice: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** The CPUs the calling thread may run on ([] when unknown). */
export function threadAllowedCpus(): number[] {
  return allowedCpus(read('/proc/thread-self/status'));
}

/** The CPU the calling thread last ran on (field 39 of its stat line); undefined when unknown. */
export function currentCpu(): number | undefined {
  const stat = read('/proc/thread-self/stat');
  // The command name (field 2) may hold spaces; fields after it are plain.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = Number(fields[36]);
  return Number.isInteger(cpu) ? cpu : undefined;
}
