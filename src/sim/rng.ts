/**
 * Seeded pseudo-random numbers. A run draws from separate named streams (arrivals, noise)
 * so that a change in one consumer never shifts the numbers another one sees.
 */

/** Mulberry32: small, fast, and good enough for simulation noise. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform draw in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An exponential draw with mean 1. */
  exponential(): number {
    return -Math.log(1 - this.next());
  }

  /** A standard normal draw (Box-Muller; one of the pair is discarded to keep the stream simple). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A lognormal multiplier with median 1 and log-space deviation `sigma`. */
  lognormal(sigma: number): number {
    return sigma === 0 ? 1 : Math.exp(sigma * this.normal());
  }
}

/** A 32-bit seed for the stream `name` of the run seeded with `seed` (FNV-1a over both). */
export function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
