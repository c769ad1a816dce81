/**
 * The hidden machine's memory system: how much the blocks running together slow each other,
 * by a law of its own that no profile holds. Pure: the running blocks in, a slowdown per block
 * out.
 *
 * - **Bandwidth that saturates.** Every block asks DRAM for `demandGBps` while it runs. The
 *   time its memory-bound share (`memoryShare`) takes stretches with the machine's load
 *   u = total demand / sustained bandwidth as (1 + u^k)^(1/k): flat while DRAM keeps up, about
 *   1.2x at u = 1 (queueing in the controllers), then in proportion to the demand, as when
 *   bandwidth is shared out (a soft maximum of 1 and u). A block is slowed by the stretch at
 *   the load now over the stretch at its own load alone, which its profile latency includes.
 * - **L3 shared per core complex.** CPU ids come in complexes of `coresPerCcx` consecutive ids,
 *   each with its own L3. A block's working set spreads over its CPUs evenly; where the shares
 *   on one complex exceed its L3, the excess fraction misses (LRU with equal pressure gives
 *   each the same hit fraction, L3 / occupancy). What misses beyond what would miss alone
 *   comes from DRAM instead: the block's memory-bound time grows by `l3MissCost` x that
 *   fraction, and its demand with it.
 *
 * The profiles' law is linear in the co-runners' summed pressure; this one is flat below
 * saturation, steep above it, and sees which CPUs share a cache: a policy that plans with the
 * profiles is right on average where the two are calibrated alike and wrong elsewhere, as it
 * is on a real machine.
 */

/** What the memory system knows of one running block. */
export interface MemoryLoad {
  /** DRAM traffic the block asks for while it runs alone, GB/s. */
  readonly demandGBps: number;
  /** Share of its solo time spent waiting on DRAM (0..1). */
  readonly memoryShare: number;
  /** Bytes it keeps in use at a time (the current layer's inputs, weights and outputs). */
  readonly workingSetBytes: number;
  /** The CPU ids it runs on. */
  readonly cpus: readonly number[];
}

export interface MemorySystem {
  /** Consecutive CPU ids sharing one L3. */
  readonly coresPerCcx: number;
  readonly l3BytesPerCcx: number;
  /** What DRAM sustains under load, GB/s. */
  readonly sustainedGBps: number;
  /** How sharply the stretch turns at saturation (the k of the soft maximum). */
  readonly saturationSharpness: number;
  /** Extra memory-bound time per fraction of the working set that newly misses L3 (1: all misses, twice). */
  readonly l3MissCost: number;
}

const MIB = 1024 * 1024;
/** DDR4-3200: 3.2 GT/s x 8 bytes per channel. */
const DDR4_3200_CHANNEL_GBPS = 25.6;

/**
 * The Threadripper 3990X: 64 Zen 2 cores in 16 core complexes of 4, each with 16 MiB of L3
 * (AMD's specification; 256 MiB in all). Its sTRX4 socket has 4 DDR4-3200 channels: 102.4 GB/s
 * theoretical. Sustained is assumed at 75 % of that (what STREAM-like loads typically reach on
 * DDR4 platforms; not measured on this machine). The sharpness and the miss cost are
 * assumptions: a loaded-latency knee near full use, and memory-bound work taking twice as
 * long when all it used to find in L3 comes from DRAM.
 */
export const THREADRIPPER_3990X_MEMORY: MemorySystem = Object.freeze({
  coresPerCcx: 4,
  l3BytesPerCcx: 16 * MIB,
  sustainedGBps: 0.75 * 4 * DDR4_3200_CHANNEL_GBPS,
  saturationSharpness: 4,
  l3MissCost: 1,
});

/**
 * What the memory system derives from a block once, when it starts: where its bytes sit and how
 * stretched its memory time is alone. The simulator settles the running blocks at every start
 * and end, so this work is done once per block rather than once per block per event.
 */
export interface MemoryFootprint<Load extends MemoryLoad = MemoryLoad> {
  readonly load: Load;
  /** Its working set per CPU. */
  readonly perCpuBytes: number;
  /** The complex of each of its CPUs, in CPU order. */
  readonly cpuCcx: readonly number[];
  /** The complexes it touches, in order of first CPU; beside them, its share of its bytes there and the fraction that misses alone. */
  readonly ccxs: readonly number[];
  readonly ccxShare: readonly number[];
  readonly ccxMissAlone: readonly number[];
  /** The stretch its memory time has at its own demand alone, which its profile latency includes. */
  readonly stretchAlone: number;
}

export function memoryFootprint<Load extends MemoryLoad>(
  load: Load,
  system: MemorySystem,
): MemoryFootprint<Load> {
  const perCpuBytes = load.workingSetBytes > 0 ? load.workingSetBytes / load.cpus.length : 0;
  // Plain arrays: a footprint is made per block started, and typed arrays cost more to allocate.
  const cpuCcx: number[] = [];
  const ccxs: number[] = [];
  const bytes: number[] = [];
  for (const cpu of load.cpus) {
    const ccx = Math.floor(cpu / system.coresPerCcx);
    cpuCcx.push(ccx);
    // A block's CPUs are few complexes, mostly consecutive: a scan beats a map.
    let k = ccxs.length - 1;
    while (k >= 0 && ccxs[k] !== ccx) k--;
    if (k < 0) {
      k = ccxs.push(ccx) - 1;
      bytes.push(0);
    }
    bytes[k] += perCpuBytes;
  }
  return {
    load,
    perCpuBytes,
    cpuCcx,
    ccxs,
    ccxShare: bytes.map((b) => b / load.workingSetBytes),
    ccxMissAlone: bytes.map((b) => missFraction(b, system.l3BytesPerCcx)),
    stretchAlone: memoryStretch(load.demandGBps / system.sustainedGBps, system.saturationSharpness),
  };
}

/** Slowdown (>= 1) of every block in `loads` while they all run together. */
export function memorySlowdowns(loads: readonly MemoryLoad[], system: MemorySystem): number[] {
  const out = new Float64Array(loads.length);
  footprintSlowdowns(
    loads.map((l) => memoryFootprint(l, system)),
    system,
    out,
  );
  return [...out];
}

/** Bytes in use per complex, reused between calls (the simulator settles at every event). */
let occupancy: Float64Array = new Float64Array(0);

/** `memorySlowdowns` from footprints, into `out` (one slot per footprint). */
export function footprintSlowdowns(
  blocks: readonly MemoryFootprint[],
  system: MemorySystem,
  out: Float64Array,
): void {
  fillOccupancy(blocks);
  let demandGBps = 0;
  for (let k = 0; k < blocks.length; k++) {
    out[k] = extraMissFraction(blocks[k], system);
    demandGBps += blocks[k].load.demandGBps * (1 + system.l3MissCost * out[k]);
  }
  const stretchNow = memoryStretch(demandGBps / system.sustainedGBps, system.saturationSharpness);
  for (let k = 0; k < blocks.length; k++) {
    const b = blocks[k];
    const stretch = (stretchNow / b.stretchAlone) * (1 + system.l3MissCost * out[k]);
    out[k] = Math.max(1, 1 + b.load.memoryShare * (stretch - 1));
  }
}

/** How much longer DRAM-bound work takes at load `u` (demand over sustained bandwidth) than unloaded. */
export function memoryStretch(u: number, sharpness: number): number {
  return Math.pow(1 + Math.pow(Math.max(0, u), sharpness), 1 / sharpness);
}

/** Every complex's bytes in use by `blocks`, added CPU by CPU. */
function fillOccupancy(blocks: readonly MemoryFootprint[]): void {
  for (const b of blocks) {
    for (const ccx of b.cpuCcx) {
      if (ccx >= occupancy.length) occupancy = grown(occupancy, ccx + 1);
      occupancy[ccx] = 0;
    }
  }
  for (const b of blocks) {
    if (b.load.workingSetBytes <= 0) continue;
    for (const ccx of b.cpuCcx) occupancy[ccx] += b.perCpuBytes;
  }
}

function grown(array: Float64Array, length: number): Float64Array {
  const next = new Float64Array(Math.max(length, 2 * array.length));
  next.set(array);
  return next;
}

/**
 * The fraction of a block's working set that misses L3 now beyond what would miss were it
 * alone on its complexes, averaged over its CPUs.
 */
function extraMissFraction(b: MemoryFootprint, system: MemorySystem): number {
  if (b.load.workingSetBytes <= 0) return 0;
  let extra = 0;
  for (let k = 0; k < b.ccxs.length; k++) {
    const spillNow = missFraction(occupancy[b.ccxs[k]], system.l3BytesPerCcx);
    extra += b.ccxShare[k] * (spillNow - b.ccxMissAlone[k]);
  }
  return extra;
}

/** Fraction of the bytes in use on one complex that its L3 cannot hold. */
function missFraction(bytes: number, l3Bytes: number): number {
  return bytes > l3Bytes ? 1 - l3Bytes / bytes : 0;
}
