import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';

/**
 * How busy the machine was with other processes' work over a window: all CPUs' busy time
 * (/proc/stat) minus this process's own CPU time (all its threads). Measurements taken while
 * others used much of a core are redone: on a shared machine that is the main source of noise,
 * and it only ever makes runs slower.
 */
const MIN_WINDOW_MS = 20;

export class ForeignLoadMeter {
  private busyMs = 0;
  private selfMs = 0;
  private atMs = 0;
  private readonly available: boolean;

  constructor(private readonly readStat: () => string | undefined = readProcStat) {
    this.available = readStat() !== undefined;
  }

  /** Starts a window. */
  mark(): void {
    this.busyMs = this.busy();
    this.selfMs = selfCpuMs();
    this.atMs = performance.now();
  }

  /** Average cores other processes used since `mark` (0 when /proc/stat is unreadable). */
  foreignCores(): number {
    if (!this.available) return 0;
    const wall = performance.now() - this.atMs;
    // /proc/stat counts 10 ms ticks: a shorter window cannot be judged.
    if (wall < MIN_WINDOW_MS) return 0;
    const foreign = this.busy() - this.busyMs - (selfCpuMs() - this.selfMs);
    return Math.max(0, foreign / wall);
  }

  private busy(): number {
    return parseBusyMs(this.readStat() ?? '');
  }
}

function readProcStat(): string | undefined {
  try {
    return readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Busy milliseconds of all CPUs from /proc/stat's first line (clock ticks of 10 ms). */
export function parseBusyMs(stat: string): number {
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const fields = stat.split('\n')[0]?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  if (fields.length < 4) return 0;
  const busy = fields.reduce((a, b, k) => (k === 3 || k === 4 ? a : a + (Number.isFinite(b) ? b : 0)), 0);
  return busy * 10;
}

export interface CleanRoundsOptions {
  rounds: number;
  /** Average foreign cores above which a round is redone. */
  maxForeignCores: number;
  /** Extra rounds allowed in all; past them, disturbed rounds are kept (and counted). */
  retries: number;
  meter: ForeignLoadMeter;
}

/**
 * Runs `round` until `rounds` of them were undisturbed by other processes, or the retries
 * are spent. Returns the kept results and how many were redone.
 */
export async function cleanRounds<T>(
  opts: CleanRoundsOptions,
  round: () => Promise<T>,
): Promise<{ results: T[]; redone: number }> {
  const results: T[] = [];
  let redone = 0;
  while (results.length < opts.rounds) {
    opts.meter.mark();
    const result = await round();
    if (opts.meter.foreignCores() > opts.maxForeignCores && redone < opts.retries) {
      redone++;
      // Let the other process's burst pass rather than sampling it again at once.
      await new Promise((resolve) => setTimeout(resolve, 5 + 5 * Math.min(redone, 10)));
      continue;
    }
    results.push(result);
  }
  return { results, redone };
}

/**
 * Asks the OS to favour this process's threads (nice -10) while it measures, so that other
 * processes on a shared machine disturb fewer runs. Call it before any worker or ORT thread
 * starts: Linux threads inherit the nice value of the thread that creates them. Best effort:
 * returns false where the process may not raise its priority.
 */
export function raiseMeasurementPriority(): boolean {
  try {
    setPriority(0, -10);
    return true;
  } catch {
    return false;
  }
}
