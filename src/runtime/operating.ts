/**
 * What blocks cost in operation against what their profile planned: the engine's own block
 * records, read back to plan with (`LiveRuntime.useOperatingCost`) and to report
 * (`ranOverPlanned`).
 */
import type { ProfilePredictor } from '../profile/index.js';
import type { BlockRecord } from './live.js';
import type { UnitLatencies } from './segments.js';

/** By the CPUs blocks held: their run time on their workers and the latency their profile gives them alone. */
export interface OperatingTime {
  readonly blocks: number;
  readonly ranMs: number;
  readonly plannedMs: number;
}

/** `blocks` summed by CPU count against `predictors` at interference 0; blocks of other models are left out. */
export function operatingTimes(
  blocks: readonly BlockRecord[],
  predictors: ReadonlyMap<string, ProfilePredictor>,
): Map<number, OperatingTime> {
  const sums = new Map<number, OperatingTime>();
  for (const b of blocks) {
    const pred = predictors.get(b.model);
    if (!pred) continue;
    const cpus = b.cpus.length;
    const sum = sums.get(cpus) ?? { blocks: 0, ranMs: 0, plannedMs: 0 };
    sums.set(cpus, {
      blocks: sum.blocks + 1,
      ranMs: sum.ranMs + (b.endMs - b.startMs),
      plannedMs: sum.plannedMs + pred.blockUs(b.block[0], b.block[1], b.version, cpus, 0) / 1000,
    });
  }
  return new Map([...sums].sort(([a], [b]) => a - b));
}

/**
 * By the CPUs a block held: the blocks' run time over their profile latency alone,
 * time-weighted (3 decimals). Far from 1 at some CPU count, the profile is wrong there.
 */
export function ranOverPlanned(
  blocks: readonly BlockRecord[],
  predictors: ReadonlyMap<string, ProfilePredictor>,
): Record<string, number> {
  return Object.fromEntries(
    [...operatingTimes(blocks, predictors)].map(([cpus, t]) => [
      String(cpus),
      Math.round((1000 * t.ranMs) / t.plannedMs) / 1000,
    ]),
  );
}

/**
 * Fewer blocks on a CPU count than this leave its measured units as they were: a handful of
 * blocks says more about their own moment than about the units.
 */
export const MIN_OPERATING_BLOCKS = 50;

/**
 * The scale, by CPU count, from the units measured at start to what `blocks` took in operation,
 * planned by `measured` (the start's profiles). A scale outside [1/2, 2] is clamped: beyond it
 * the run itself was disturbed, not the measurement.
 */
export function operatingScale(
  blocks: readonly BlockRecord[],
  measured: ReadonlyMap<string, ProfilePredictor>,
): Map<number, number> {
  const scale = new Map<number, number>();
  for (const [cpus, t] of operatingTimes(blocks, measured)) {
    if (t.blocks < MIN_OPERATING_BLOCKS || !(t.plannedMs > 0)) continue;
    scale.set(cpus, Math.min(2, Math.max(0.5, t.ranMs / t.plannedMs)));
  }
  return scale;
}

/** `latencies` with every unit on c cores times `scale`'s factor for c (1 where it has none). */
export function scaledLatencies(latencies: UnitLatencies, scale: ReadonlyMap<number, number>): UnitLatencies {
  return new Map(
    [...latencies].map(([version, byCores]) => [
      version,
      new Map([...byCores].map(([cores, units]) => [cores, units.map((us) => us * (scale.get(cores) ?? 1))])),
    ]),
  );
}
