/**
 * Which CPUs this process may use, and pinning a thread to some of them (decision 0007: on a
 * VM, a thread left to the OS is now and then woken on a busy CPU and shares it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { allowedCpus, usableCores } from '../compile/index.js';
import { TICKS_PER_SECOND } from './steal.js';

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

/** The OS's id of the calling thread (main or worker), which /proc/thread-self names; undefined off Linux. */
function thisThreadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}

/**
 * Pins the calling thread to `cpus` with taskset. Best effort: without taskset or /proc it
 * stays unpinned; `threadAllowedCpus` tells.
 */
export function pinThisThread(cpus: readonly number[]): void {
  const tid = thisThreadId();
  if (tid !== undefined) spawnSync('taskset', ['-p', '-c', cpus.join(','), String(tid)], { stdio: 'ignore' });
}

/**
 * Sets the calling thread's nice value (Linux nice values are per thread). A thread may always
 * lower its own priority; raising it needs CAP_SYS_NICE or a nice rlimit. Threads it creates
 * afterwards (ORT's pools) inherit it. Best effort: false when the OS refused.
 */
export function setThisThreadNice(nice: number): boolean {
  const tid = thisThreadId();
  if (tid === undefined) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** Where a thread that yields to the engine's stands (`yieldThisThread`). */
export type YieldedPriority = 'idle' | 'nice' | 'unchanged';

/** Nice value of a thread that yields, where SCHED_IDLE cannot be had. */
const YIELD_NICE = 5;

/**
 * Puts the calling thread below every ordinary thread: SCHED_IDLE, which a waking ordinary
 * thread preempts at once (a lower nice value only weighs its share, and the kernel was seen to
 * let the running thread finish its slice), set with chrt as taskset pins; where that fails, nice
 * 5. Threads it creates afterwards (ORT's pools) inherit either. Any thread may lower its own
 * priority. Decision 0011.
 */
export function yieldThisThread(): YieldedPriority {
  const tid = thisThreadId();
  if (tid === undefined) return 'unchanged';
  const idle = spawnSync('chrt', ['--idle', '-p', '0', String(tid)], { stdio: 'ignore' });
  if (idle.status === 0) return 'idle';
  return setThisThreadNice(YIELD_NICE) ? 'nice' : 'unchanged';
}

/** The CPUs the calling thread may run on ([] when unknown). */
export function threadAllowedCpus(): number[] {
  return allowedCpus(read('/proc/thread-self/status'));
}

/**
 * CPU time the calling thread has used, user and system (ms; fields 14 and 15 of its stat line,
 * in ticks of 10 ms); undefined when unknown.
 */
export function threadCpuMs(): number | undefined {
  const fields = statFields();
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
}

/** Fields 3 on of the calling thread's stat line; the command name (field 2) may hold spaces. */
function statFields(): string[] {
  const stat = read('/proc/thread-self/stat');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The CPU the calling thread last ran on (field 39 of its stat line); undefined when unknown. */
export function currentCpu(): number | undefined {
  const cpu = Number(statFields()[36]);
  return Number.isInteger(cpu) ? cpu : undefined;
}
