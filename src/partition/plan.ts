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
    throw new RangeError(
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

/** Parses a `--granularity` value: `layer`, `whole`, or a positive integer of layers per block. */
export function parseGranularity(text: string): Granularity {
  if (text === 'layer' || text === 'whole') return text;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`granularity must be 'layer', 'whole' or a positive integer, got '${text}'`);
  }
  return n;
}
