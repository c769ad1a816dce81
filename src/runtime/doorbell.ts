/**
 * A counter in shared memory that one thread sleeps on until another rings it: a futex, the
 * cheapest wake-up between two threads. Waking a sleeping block worker through Node's
 * MessagePort alone took 50-160 us (p50) on a 2-vCPU VM, through a futex 27-69 us
 * (docs/experiments/2026-12-07-doorbell.md); the message itself still travels by the port.
 */
export class Doorbell {
  private readonly count: Int32Array;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.count = new Int32Array(memory);
  }

  /** Wakes the thread sleeping on this bell, if any; a later `sleep` on an older reading returns at once. */
  ring(): void {
    Atomics.add(this.count, 0, 1);
    Atomics.notify(this.count, 0);
  }

  /** How often the bell was rung: read it before looking for work, then `sleep(reading)`. */
  reading(): number {
    return Atomics.load(this.count, 0);
  }

  /** Blocks this thread until the bell is rung after `reading` (at once if it already was). */
  sleep(reading: number): void {
    Atomics.wait(this.count, 0, reading);
  }
}
