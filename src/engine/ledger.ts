import { VeltairError } from '../errors/index.js';
/**
 * The CPU ledger: hands out named CPUs (ids as the OS numbers them, from the process's affinity
 * mask) and takes them back. Every running block holds the CPUs it was given and nothing else,
 * so the threads of running blocks never outnumber the CPUs: this alone removes the
 * oversubscription that co-located ORT sessions with default thread pools suffer.
 */

/** One change of the ledger, for traces: `take` when a block starts, `release` when it ends. */
export interface LedgerEvent {
  readonly atMs: number;
  readonly kind: 'take' | 'release';
  readonly run: number;
  readonly cpus: readonly number[];
}

/** Marks a free CPU: any other number, negative ones included, may name a run. */
const FREE = -0x80000000;

export class CoreLedger {
  /** Which run holds each CPU (by position in `cpus`); FREE when none. */
  private readonly holder: Int32Array;
  /**
   * Positions from the one released last to the one released first, then the never released
   * in ledger order: a list linked through `after`/`before`, so that a release moves a CPU to
   * the front at once instead of each take sorting every CPU by release time.
   */
  private readonly after: Int32Array;
  private readonly before: Int32Array;
  private latest = 0;
  /** Position of each CPU, indexed by its id (ids are small integers: an array beats a map). */
  private readonly positionById: number[] = [];
  private freeCount: number;
  private maxBusyCount = 0;
  private readonly events: LedgerEvent[] | undefined;

  constructor(
    /** The CPUs this ledger manages, in the order windows are formed (see `take`). */
    readonly cpus: readonly number[],
    opts: { trace?: boolean } = {},
  ) {
    if (cpus.length === 0) throw new VeltairError('ledger_violation', 'a ledger needs at least one CPU');
    if (new Set(cpus).size !== cpus.length)
      throw new VeltairError('ledger_violation', `CPU listed twice in [${cpus.join(', ')}]`);
    const odd = cpus.find((cpu) => !Number.isInteger(cpu) || cpu < 0);
    if (odd !== undefined) throw new VeltairError('ledger_violation', `CPU id ${odd} is not an integer >= 0`);
    this.holder = new Int32Array(cpus.length).fill(FREE);
    this.after = Int32Array.from(cpus, (_, p) => p + 1);
    this.before = Int32Array.from(cpus, (_, p) => p - 1);
    cpus.forEach((cpu, p) => (this.positionById[cpu] = p));
    this.freeCount = cpus.length;
    this.events = opts.trace ? [] : undefined;
  }

  get total(): number {
    return this.cpus.length;
  }

  get free(): number {
    return this.freeCount;
  }

  get busy(): number {
    return this.cpus.length - this.freeCount;
  }

  /** The most CPUs held at once since the ledger was made. */
  get maxBusy(): number {
    return this.maxBusyCount;
  }

  /** Every take and release, in order (empty unless made with `trace`). */
  get trace(): readonly LedgerEvent[] {
    return this.events ?? [];
  }

  /**
   * Gives `count` free CPUs to `run`. The first CPU of the answer is where the block's own
   * thread runs. Preference, so that the live executor finds warm sessions and warm caches:
   * 1. the window of `count` consecutive CPUs (cyclic, in ledger order) starting at the first
   *    of `prefer` (the CPUs the query's previous block ran on: its inputs are in their caches);
   * 2. the window of `count` consecutive free CPUs starting at the CPU released last (its
   *    worker has slept the least: its caches are the warmest), then at the others in ledger order;
   * 3. the lowest free CPUs (the free ones are fragmented).
   */
  take(count: number, run: number, atMs: number, prefer?: readonly number[]): number[] {
    if (!Number.isInteger(count) || count < 1)
      throw new VeltairError('ledger_violation', `cannot take ${count} CPUs`);
    if (count > this.freeCount) {
      throw new VeltairError(
        'ledger_violation',
        `run ${run} asks for ${count} CPUs, ${this.freeCount} are free`,
      );
    }
    return this.assign(this.choose(count, prefer), run, atMs);
  }

  isFree(cpu: number): boolean {
    const p = this.positionOf(cpu);
    return p !== undefined && this.holder[p] === FREE;
  }

  /** Gives exactly `cpus` (free ones) to `run`: work the engine did not dispatch, on their workers. */
  takeExactly(cpus: readonly number[], run: number, atMs: number): void {
    for (const cpu of cpus) {
      if (!this.isFree(cpu))
        throw new VeltairError('ledger_violation', `run ${run} asks for CPU ${cpu}, which is not free`);
    }
    this.assign(
      cpus.map((cpu) => this.positionOf(cpu) as number),
      run,
      atMs,
    );
  }

  /**
   * Gives the free CPUs at `positions` to `run`; returns their ids, written over `positions`
   * (an array of the caller's own, made for this take: one array per take, not two).
   */
  private assign(positions: number[], run: number, atMs: number): number[] {
    for (let k = 0; k < positions.length; k++) {
      this.holder[positions[k]] = run;
      positions[k] = this.cpus[positions[k]];
    }
    this.freeCount -= positions.length;
    this.maxBusyCount = Math.max(this.maxBusyCount, this.busy);
    this.events?.push({ atMs, kind: 'take', run, cpus: positions });
    return positions;
  }

  /** Takes back the CPUs `run` holds; they must be exactly the ones it was given. */
  release(cpus: readonly number[], run: number, atMs: number): void {
    for (const cpu of cpus) {
      const p = this.positionOf(cpu);
      if (p === undefined || this.holder[p] !== run) {
        throw new VeltairError('ledger_violation', `run ${run} releases CPU ${cpu}, which it does not hold`);
      }
      this.holder[p] = FREE;
      this.toFront(p);
    }
    this.freeCount += cpus.length;
    this.events?.push({ atMs, kind: 'release', run, cpus: [...cpus] });
  }

  private positionOf(cpu: number): number | undefined {
    return Number.isInteger(cpu) && cpu >= 0 ? this.positionById[cpu] : undefined;
  }

  /** Marks position `p` as the one released last. */
  private toFront(p: number): void {
    if (p === this.latest) return;
    const [a, b] = [this.after[p], this.before[p]];
    this.after[b] = a;
    if (a < this.cpus.length) this.before[a] = b;
    this.after[p] = this.latest;
    this.before[this.latest] = p;
    this.before[p] = -1;
    this.latest = p;
  }

  /** Whether the `count` CPUs from position `start` on (cyclic) are all free. */
  private windowFree(start: number, count: number): boolean {
    const n = this.cpus.length;
    for (let k = 0; k < count; k++) if (this.holder[(start + k) % n] !== FREE) return false;
    return true;
  }

  private window(start: number, count: number): number[] {
    const n = this.cpus.length;
    const out: number[] = [];
    for (let k = 0; k < count; k++) out.push((start + k) % n);
    return out;
  }

  private choose(count: number, prefer?: readonly number[]): number[] {
    const n = this.cpus.length;
    const preferred = prefer && prefer.length > 0 ? this.positionOf(prefer[0]) : undefined;
    if (preferred !== undefined && this.windowFree(preferred, count)) return this.window(preferred, count);
    for (let start = this.latest; start < n; start = this.after[start]) {
      if (this.windowFree(start, count)) return this.window(start, count);
    }
    const out: number[] = [];
    for (let p = 0; p < n && out.length < count; p++) if (this.holder[p] === FREE) out.push(p);
    return out;
  }
}

/**
 * Checks a ledger trace: no CPU is ever held by two runs, a run releases exactly what it took,
 * and no more CPUs than `total` are ever held. Returns the most CPUs held at once.
 */
export function checkLedgerTrace(events: readonly LedgerEvent[], total: number): number {
  const heldBy = new Map<number, number>();
  const taken = new Map<number, readonly number[]>();
  let most = 0;
  for (const e of events) {
    if (e.kind === 'take') {
      for (const cpu of e.cpus) {
        const other = heldBy.get(cpu);
        if (other !== undefined)
          throw new VeltairError(
            'ledger_violation',
            `CPU ${cpu} given to run ${e.run} while run ${other} holds it`,
          );
        heldBy.set(cpu, e.run);
      }
      taken.set(e.run, e.cpus);
      most = Math.max(most, heldBy.size);
      if (heldBy.size > total)
        throw new VeltairError(
          'ledger_violation',
          `${heldBy.size} CPUs held at ${e.atMs} ms, ${total} exist`,
        );
    } else {
      const had = taken.get(e.run);
      if (!had || had.join() !== e.cpus.join()) {
        throw new VeltairError(
          'ledger_violation',
          `run ${e.run} released [${e.cpus.join(', ')}], took [${had?.join(', ') ?? ''}]`,
        );
      }
      for (const cpu of e.cpus) heldBy.delete(cpu);
      taken.delete(e.run);
    }
  }
  return most;
}
