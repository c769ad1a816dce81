/**
 * What the pool and one block worker share: a bell the worker sleeps on until the pool rings it
 * (a futex, the cheapest wake-up between two threads; the message itself travels by the port),
 * and whether the worker's CPU is lent to another block's pool thread. Waking a sleeping block
 * worker through Node's MessagePort alone took 50-160 us (p50) on a 2-vCPU VM, through a futex
 * 27-69 us (docs/experiments/2026-12-07-doorbell.md).
 */
import { performance } from 'node:perf_hooks';

const RINGS = 0;
const LENDS = 1;

export class Doorbell {
  private readonly slots: Int32Array;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.slots = new Int32Array(memory);
  }

  /** Wakes the thread sleeping on this bell, if any; a later `sleep` on an older reading returns at once. */
  ring(): void {
    Atomics.add(this.slots, RINGS, 1);
    Atomics.notify(this.slots, RINGS);
  }

  /** How often the bell was rung: read it before looking for work, then `sleep(reading)`. */
  reading(): number {
    return Atomics.load(this.slots, RINGS);
  }

  /** Blocks this thread until the bell is rung after `reading` (at once if it already was). */
  sleep(reading: number): void {
    Atomics.wait(this.slots, RINGS, reading);
  }

  /**
   * Watches the bell without sleeping until `untilMs` (performance.now()), the bell is rung
   * after `reading`, or the CPU is lent; whether it was rung.
   */
  watch(reading: number, untilMs: number): boolean {
    while (performance.now() < untilMs && !this.lent) {
      if (Atomics.load(this.slots, RINGS) !== reading) return true;
    }
    return Atomics.load(this.slots, RINGS) !== reading;
  }

  /** The worker's CPU runs another block's pool thread until the matching `giveBack`. */
  lend(): void {
    Atomics.add(this.slots, LENDS, 1);
  }

  giveBack(): void {
    Atomics.sub(this.slots, LENDS, 1);
  }

  get lent(): boolean {
    return Atomics.load(this.slots, LENDS) > 0;
  }
}
