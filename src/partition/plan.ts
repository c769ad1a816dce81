import { VeltairError } from '../errors/index.js';

/** A block: the contiguous layer range [from, to) of a model's layer order. */
export type BlockRange = readonly [number, number];

/**
 * How coarse the blocks of a fixed plan are: one per layer, `n` layers each (the last block
 * may be shorter), or the whole model as one block.
 */
export type Granularity = 'layer' | 'whole' | number;

/** Cuts `layerCount` layers into consecutive blocks of the given granularity. */
export function planBlocks(layers: number | readonly unknown[], granularity: Granularity): BlockRange[] {
  const count = typeof layers === 'number' ? layers : layers.length;
  const size = granularity === 'layer' ? 1 : granularity === 'whole' ? Math.max(1, count) : granularity;
  if (!Number.isInteger(size) || size < 1) {
    throw new VeltairError(
      'invalid_argument',
      `block granularity must be 'layer', 'whole' or a positive integer, got ${granularity}`,
    );
  }
  const blocks: BlockRange[] = [];
  for (let from = 0; from < count; from += size) blocks.push([from, Math.min(count, from + size)]);
  return blocks;
}

/** Cuts `layerCount` layers into about `blockCount` blocks of near-equal layer counts. */
export function planEvenBlocks(layerCount: number, blockCount: number): BlockRange[] {
  const n = Math.max(1, Math.min(layerCount, Math.round(blockCount)));
  const blocks: BlockRange[] = [];
  for (let k = 0; k < n; k++) {
    const from = Math.round((k * layerCount) / n);
    const to = Math.round(((k + 1) * layerCount) / n);
    if (to > from) blocks.push([from, to]);
  }
  return blocks;
}

/**
 * Cuts `layerCount` layers into about `blockCount` blocks whose boundaries hand over as little
 * as possible: among plans whose blocks hold between half and one and a half times the even
 * share of layers, the one with the least total `cutCost(k)` (the cost of a boundary before
 * layer k, e.g. `ModelPartition.cutBytes`), ties going to the most even plan. Why: each
 * boundary costs a copy of what crosses it out of ORT and, for large tensors, garbage
 * collection; a ResNet cut between residual blocks hands over one tensor, a cut inside one two.
 */
export function planCoarseBlocks(
  layerCount: number,
  blockCount: number,
  cutCost: (k: number) => number,
): BlockRange[] {
  const n = Math.max(1, Math.min(layerCount, Math.round(blockCount)));
  const share = layerCount / n;
  const minSize = Math.max(1, Math.floor(share / 2));
  const maxSize = Math.max(minSize, Math.ceil(share * 1.5));
  const costs = Array.from({ length: layerCount }, (_, k) => (k === 0 ? 0 : cutCost(k)));
  // Unevenness only breaks ties: it is far below one byte per boundary.
  const unevenness = (size: number) => ((size - share) / layerCount) ** 2 * 1e-3;
  // best[j][k]: least cost of cutting layers [0, k) into j blocks; from[j][k]: where block j starts.
  const best = Array.from({ length: n + 1 }, () => new Array<number>(layerCount + 1).fill(Infinity));
  const from = Array.from({ length: n + 1 }, () => new Array<number>(layerCount + 1).fill(-1));
  best[0][0] = 0;
  for (let j = 1; j <= n; j++) {
    for (let k = j * minSize; k <= layerCount; k++) {
      for (let size = minSize; size <= maxSize && size <= k; size++) {
        const start = k - size;
        const cost = best[j - 1][start] + costs[start] + unevenness(size);
        if (cost < best[j][k]) {
          best[j][k] = cost;
          from[j][k] = start;
        }
      }
    }
  }
  if (!Number.isFinite(best[n][layerCount])) return planEvenBlocks(layerCount, n);
  const blocks: BlockRange[] = [];
  for (let j = n, k = layerCount; j > 0; k = from[j][k], j--) blocks.unshift([from[j][k], k]);
  return blocks;
}

/** Parses a `--granularity` value: `layer`, `whole`, or a positive integer of layers per block. */
export function parseGranularity(text: string): Granularity {
  if (text === 'layer' || text === 'whole') return text;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new VeltairError(
      'invalid_argument',
      `granularity must be 'layer', 'whole' or a positive integer, got '${text}'`,
    );
  }
  return n;
}
