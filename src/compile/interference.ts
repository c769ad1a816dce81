/**
 * The interference generator and the probe that defines the interference unit.
 *
 * Unit ("probe slowdown"): level x means the reference probe (makeProbe: copying a
 * last-level-cache-sized working set) runs (1 + x) times as long as it does alone. 0 = no
 * interference. The compiler measures the level each generator setting produces, the pressure
 * each version exerts, and the run-time monitor can observe the same quantity, either by
 * running the probe or by inverting a profile's slowdown curves (levelAtSlowdown in src/profile).
 */
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from '../profile/index.js';
import { allowedCpus, hostSys } from './fingerprint.js';
import { CONTROL, CONTROL_SLOTS, makeProbe, whenReady, type WorkerData } from './interference-shared.js';

const WORKER_URL = new URL('./interference-worker.js', import.meta.url);

/** Probe buffers: each half the LLC, so the probe's working set is the LLC. */
export function probeBufferBytes(llcBytes: number): number {
  return Math.max(1 << 20, Math.floor(llcBytes / 2));
}

export interface InterferenceGenerator {
  readonly threads: number;
  /** Current intensity: fraction of time (0..1) each co-runner thread streams. */
  readonly intensity: number;
  /** Changes the intensity and waits a few periods for it to take effect. */
  setIntensity(intensity: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `threads` streaming co-runners (worker threads) over buffers of 2x the LLC, idle
 * until setIntensity, each pinned to `cpus` (a taskset list: the cores the measured version
 * does not use, `CpuPlacement.coRunnerCpus`) where given.
 */
export async function startGenerator(
  threads: number,
  llcBytes: number,
  cpus?: string,
): Promise<InterferenceGenerator> {
  const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
  const slots = new Int32Array(control);
  const workers = Array.from({ length: threads }, () => {
    const data: WorkerData = {
      role: 'stream',
      control,
      bufferBytes: 2 * llcBytes,
      ...(cpus ? { cpus } : {}),
    };
    return new Worker(WORKER_URL, { workerData: data });
  });
  await whenReady(slots, threads);
  let intensity = 0;
  return {
    threads,
    get intensity() {
      return intensity;
    },
    async setIntensity(next: number) {
      intensity = Math.max(0, Math.min(1, next));
      Atomics.store(slots, CONTROL.duty, Math.round(intensity * 1000));
      Atomics.notify(slots, CONTROL.duty);
      await sleep(intensity > 0 ? 2 : 1);
    },
    async close() {
      Atomics.store(slots, CONTROL.stop, 1);
      Atomics.store(slots, CONTROL.duty, 0);
      Atomics.notify(slots, CONTROL.duty);
      Atomics.notify(slots, CONTROL.sleep);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/**
 * Where the measuring threads run (decision 0007), fixed from the affinity mask the process
 * started with: a pinned thread reads a mask of one CPU, so nothing may re-read it later.
 * - The main thread runs every measured session's first thread, on the first CPU. Left to
 *   the OS, it shares a CPU with a co-runner now and then, and runs up to 2x slower.
 * - A session's pool threads go to the next CPUs (`poolCpus`). Left to the OS, on a VM whose
 *   idle vCPU the host has descheduled, the pool thread is woken on the caller's busy CPU a
 *   good part of the time, and 2 threads run no faster than 1.
 * - The generator's threads and the pressure probe go to the last CPUs, which no session
 *   measured under interference uses (`sensitivityCores` + generator threads <= CPUs).
 * On a 1-CPU machine nothing is pinned: there the generator time-shares, as documented.
 */
export class CpuPlacement {
  constructor(
    /** The CPUs the affinity mask allows. */
    readonly cpus: readonly number[],
    readonly generatorThreads: number,
  ) {}

  static ofThisProcess(generatorThreads: number): CpuPlacement {
    return new CpuPlacement(allowedCpus(readStatus()), generatorThreads);
  }

  /** CPUs (taskset list) of the generator's threads and the probe; undefined on 1 CPU. */
  get coRunnerCpus(): string | undefined {
    if (this.cpus.length <= this.generatorThreads) return undefined;
    return this.cpus.slice(this.cpus.length - this.generatorThreads).join(',');
  }

  /** CPUs of the pool threads of a session on `cores` threads; undefined where there are too few. */
  poolCpus(cores: number): number[] | undefined {
    return this.cpus.length >= cores ? this.cpus.slice(1, cores) : undefined;
  }

  /**
   * Runs `work` with the main thread pinned to the first CPU, then gives it the whole mask
   * back. Only the main thread is pinned (taskset without -a): threads created meanwhile
   * inherit the pin, so sessions opened inside must set `poolCpus` and workers pin themselves.
   */
  async withMainThreadPinned<T>(work: () => Promise<T>): Promise<T> {
    if (this.cpus.length < 2) return work();
    const pin = (cpus: readonly number[]) =>
      spawnSync('taskset', ['-p', '-c', cpus.join(','), String(process.pid)], { stdio: 'ignore' });
    try {
      pin(this.cpus.slice(0, 1));
      return await work();
    } finally {
      pin(this.cpus);
    }
  }
}

function readStatus(): string {
  return hostSys.read('/proc/self/status') ?? '';
}

/** Probe passes per intensity and round when calibrating. */
const PROBES_PER_ROUND = 5;

/** Runs a round `count` times (the measurer's version redoes disturbed rounds). */
export type RoundRunner = <T>(count: number, round: () => Promise<T>) => Promise<{ results: T[] }>;

const plainRounds: RoundRunner = async (count, round) => {
  const results = [];
  for (let r = 0; r < count; r++) results.push(await round());
  return { results };
};

/**
 * The typical run time: the median. Block latency is predicted as a sum over layers, and the
 * median of a sum is close to the sum of medians, where the lower quartile is not: with
 * layers' lower quartiles, every 2-core held-out block of one ResNet-50 compile was predicted
 * too fast (by 16-49 %), where a run either gets its second thread in time or does not.
 * Held-out blocks use the same statistic.
 */
export function typicalUs(samples: readonly number[]): number {
  return median(samples);
}

/**
 * Measures the level each intensity produces, on the main thread's probe. Rounds interleave
 * the intensities (quiet first each round) so drift from other load hits all alike.
 * Returned levels are made strictly ascending (a noisy inversion is raised just above its
 * neighbour) because profiles index slowdown columns by ascending level.
 */
export async function calibrateLevels(
  generator: InterferenceGenerator,
  intensities: readonly number[],
  llcBytes: number,
  rounds: number,
  runRounds: RoundRunner = plainRounds,
): Promise<number[]> {
  const probe = makeProbe(probeBufferBytes(llcBytes));
  for (let i = 0; i < 3; i++) probe();
  // Each round times the probe at every intensity, quiet first; a level is the median over
  // rounds of the within-round ratio, so slow drift in other load cancels out.
  const { results } = await runRounds(rounds, async () => {
    const round: number[] = [];
    for (let k = 0; k < intensities.length; k++) {
      await generator.setIntensity(intensities[k]);
      round.push(median(Array.from({ length: PROBES_PER_ROUND }, () => probe())));
    }
    await generator.setIntensity(0);
    return round;
  });
  const raw = intensities.map((x, k) =>
    x === 0 ? 0 : Math.max(0, median(results.map((round) => round[k] / round[0])) - 1),
  );
  return ascending(raw);
}

/** Rounds to 3 decimals and forces strict ascent (by 0.001 steps). */
export function ascending(levels: readonly number[]): number[] {
  const out: number[] = [];
  for (const l of levels) {
    const v = Math.round(l * 1000) / 1000;
    out.push(out.length === 0 ? v : Math.max(v, out[out.length - 1] + 0.001));
  }
  return out.map((v) => Math.round(v * 1000) / 1000);
}

/**
 * Observes pressure: a probe thread runs continuously; `pressureOf` compares its pass times
 * while the main thread is idle with those while `work` runs back to back. The result is in
 * the interference unit, so a version's pressure and a generator level mean the same thing.
 */
export class PressureProbe {
  private constructor(
    private readonly worker: Worker,
    private readonly slots: Int32Array,
    private readonly times: Float64Array,
  ) {}

  /** Starts the probe thread, pinned to `cpus` (a taskset list) where given. */
  static async start(llcBytes: number, cpus?: string): Promise<PressureProbe> {
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const results = new SharedArrayBuffer(8 * 4096);
    const data: WorkerData = {
      role: 'probe',
      control,
      bufferBytes: probeBufferBytes(llcBytes),
      results,
      ...(cpus ? { cpus } : {}),
    };
    const worker = new Worker(WORKER_URL, { workerData: data });
    const slots = new Int32Array(control);
    await whenReady(slots, 1);
    return new PressureProbe(worker, slots, new Float64Array(results));
  }

  private since(count: number): number[] {
    const now = Atomics.load(this.slots, CONTROL.count);
    const out: number[] = [];
    for (let k = Math.max(count, now - this.times.length); k < now; k++)
      out.push(this.times[k % this.times.length]);
    return out;
  }

  /** Pressure `work` exerts: median probe slowdown while it runs, minus 1, at least 0. */
  async pressureOf(work: () => Promise<unknown>, windowMs: number, rounds: number): Promise<number> {
    const quiet: number[] = [];
    const loaded: number[] = [];
    Atomics.store(this.slots, CONTROL.duty, 1);
    Atomics.notify(this.slots, CONTROL.duty);
    try {
      await this.measureRounds(work, windowMs, rounds, quiet, loaded);
    } finally {
      Atomics.store(this.slots, CONTROL.duty, 0);
    }
    if (quiet.length === 0 || loaded.length === 0) return 0;
    return Math.max(0, Math.round((median(loaded) / median(quiet) - 1) * 1000) / 1000);
  }

  private async measureRounds(
    work: () => Promise<unknown>,
    windowMs: number,
    rounds: number,
    quiet: number[],
    loaded: number[],
  ): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      let mark = Atomics.load(this.slots, CONTROL.count);
      await sleep(windowMs);
      quiet.push(...this.since(mark));
      mark = Atomics.load(this.slots, CONTROL.count);
      const end = performance.now() + windowMs;
      while (performance.now() < end) await work();
      // A probe pass that straddled the boundary counts as loaded: the first one is dropped.
      loaded.push(...this.since(mark + 1));
    }
  }

  async close(): Promise<void> {
    Atomics.store(this.slots, CONTROL.stop, 1);
    Atomics.notify(this.slots, CONTROL.duty);
    await this.worker.terminate();
  }
}
