/**
 * What blocks cost in operation against what their profile planned: the engine's own block
 * records, read back to plan with (`operatingCost`, `LiveRuntime.useOperatingCost`) and to
 * report (`ranOverPlanned`).
 */
import type { ProfilePredictor } from '../profile/index.js';
import type { BlockRecord } from './live.js';
import type { UnitLatencies } from './segments.js';

/**
 * By the CPUs a block held: the blocks' run time over their profile latency alone,
 * time-weighted (3 decimals). Far from 1 at some CPU count, the profile is wrong there; blocks
 * of models `predictors` lacks are left out.
 */
export function ranOverPlanned(
  blocks: readonly BlockRecord[],
  predictors: ReadonlyMap<string, ProfilePredictor>,
): Record<string, number> {
  const sums = new Map<number, { ranMs: number; plannedMs: number }>();
  for (const b of blocks) {
    const pred = predictors.get(b.model);
    if (!pred) continue;
    const cpus = b.cpus.length;
    const sum = sums.get(cpus) ?? { ranMs: 0, plannedMs: 0 };
    sum.ranMs += b.endMs - b.startMs;
    sum.plannedMs += pred.blockUs(b.block[0], b.block[1], b.version, cpus, 0) / 1000;
    sums.set(cpus, sum);
  }
  return Object.fromEntries(
    [...sums]
      .sort(([a], [b]) => a - b)
      .map(([cpus, { ranMs, plannedMs }]) => [String(cpus), Math.round((1000 * ranMs) / plannedMs) / 1000]),
  );
}

/**
 * Fewer blocks on a CPU count than this leave its measured units as they were: a handful of
 * blocks says more about their own moment than about the units.
 */
export const MIN_OPERATING_BLOCKS = 50;

/** What blocks took in operation, as the units they ran and the machine that runs them should say. */
export interface OperatingCost {
  /**
   * By CPU count: the factor from a unit's latency as measured at start to its blocks' typical
   * run time, the geometric mean of run time over measured latency weighted by the latter. The
   * measured latency is a median and the simulated machine draws noise of median 1 around it,
   * so the factor is a typical, not a mean, ratio. Held within [1/2, 2]: beyond, the run itself
   * was disturbed, not the measurement.
   */
  readonly scale: ReadonlyMap<number, number>;
  /**
   * Log-space deviation of a block's run time around its scaled latency (null: too few
   * blocks): the per-block noise the simulated machine should draw, where the measurement at
   * start gives only the spread of back-to-back runs of one unit.
   */
  readonly spread: number | null;
}

/** An `OperatingCost` as reports give it: by CPU count as a record, to 3 decimals. */
export interface OperatingReport {
  readonly scale: Record<string, number>;
  readonly spread: number | null;
}

export function operatingReport(cost: OperatingCost | null): OperatingReport | null {
  if (!cost) return null;
  const round3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    scale: Object.fromEntries([...cost.scale].map(([cpus, f]) => [String(cpus), round3(f)])),
    spread: cost.spread === null ? null : round3(cost.spread),
  };
}

/** `blocks` (an engine's records) against `measured` (the profiles of the units as measured at start). */
export function operatingCost(
  blocks: readonly BlockRecord[],
  measured: ReadonlyMap<string, ProfilePredictor>,
): OperatingCost {
  const logs = new Map<number, { log: number; plannedUs: number }[]>();
  for (const b of blocks) {
    const pred = measured.get(b.model);
    if (!pred) continue;
    const plannedUs = pred.blockUs(b.block[0], b.block[1], b.version, b.cpus.length, 0);
    const ranUs = (b.endMs - b.startMs) * 1000;
    if (!(plannedUs > 0) || !(ranUs > 0)) continue;
    const at = logs.get(b.cpus.length) ?? logs.set(b.cpus.length, []).get(b.cpus.length)!;
    at.push({ log: Math.log(ranUs / plannedUs), plannedUs });
  }
  const scale = new Map<number, number>();
  const residuals: number[] = [];
  for (const [cpus, at] of [...logs].sort(([a], [b]) => a - b)) {
    if (at.length < MIN_OPERATING_BLOCKS) continue;
    const weight = at.reduce((sum, x) => sum + x.plannedUs, 0);
    const typical = at.reduce((sum, x) => sum + x.log * x.plannedUs, 0) / weight;
    scale.set(cpus, Math.min(2, Math.max(0.5, Math.exp(typical))));
    const mean = at.reduce((sum, x) => sum + x.log, 0) / at.length;
    for (const x of at) residuals.push(x.log - mean);
  }
  const spread =
    residuals.length >= MIN_OPERATING_BLOCKS
      ? Math.sqrt(residuals.reduce((sum, r) => sum + r * r, 0) / (residuals.length - 1))
      : null;
  return { scale, spread };
}

/** `scale`'s factors as progress lines give them: `1.18x on 1 CPU, 1.28x on 2 CPUs` (empty for none). */
export function describeScale(scale: ReadonlyMap<number, number>): string {
  return [...scale].map(([cpus, f]) => `${f.toFixed(2)}x on ${cpus} CPU${cpus > 1 ? 's' : ''}`).join(', ');
}

/** A factor that moved by less than this on every CPU count is not worth planning and tuning again for. */
export const REPLAN_TOLERANCE = 0.05;

/**
 * `read` over `before` (null: as measured): a CPU count too few of `read`'s blocks ran on keeps
 * `before`'s factor, and a spread `read` could not give is `before`'s.
 */
export function updatedCost(before: OperatingCost | null, read: OperatingCost): OperatingCost {
  return {
    scale: new Map([...(before?.scale ?? []), ...read.scale]),
    spread: read.spread ?? before?.spread ?? null,
  };
}

/** Whether some CPU count's factor in `next` is beyond `REPLAN_TOLERANCE` of `now`'s (1 where none). */
export function costMoved(now: OperatingCost | null, next: OperatingCost): boolean {
  return [...next.scale].some(
    ([cpus, f]) => Math.abs(f / (now?.scale.get(cpus) ?? 1) - 1) > REPLAN_TOLERANCE,
  );
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
