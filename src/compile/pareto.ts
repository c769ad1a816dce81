import type { VersionProfile } from '../profile/index.js';
import { VERSION_SPECS } from './versions.js';

/** One axis a version is judged on; lower is better on every axis. */
interface Axis {
  name: string;
  value(v: VersionProfile): number;
  /** Differences within this margin are noise, not a win. */
  margin(a: number, b: number): number;
}

export interface ParetoOptions {
  coreCounts: readonly number[];
  levels: readonly number[];
  /** Relative margin below which latencies count as equal (measurement noise). */
  latencyTolerance: number;
  /** Absolute margin for pressure, in interference units. */
  pressureTolerance: number;
}

function axesFor(opts: ParetoOptions): Axis[] {
  const rel = (a: number, b: number) => opts.latencyTolerance * Math.min(a, b);
  const top = opts.levels.length - 1;
  const axes: Axis[] = opts.coreCounts.map((c, k) => ({
    name: `fastest alone on ${c} core${c === 1 ? '' : 's'}`,
    value: (v) => v.soloUs[k],
    margin: rel,
  }));
  if (top > 0) {
    axes.push({
      name: `fastest at interference ${opts.levels[top]}`,
      value: (v) => v.soloUs[0] * v.slowdown[top],
      margin: rel,
    });
  }
  axes.push({
    name: 'least pressure on co-runners',
    value: (v) => v.pressure,
    margin: () => opts.pressureTolerance,
  });
  axes.push({
    name: 'leaves idle cores free (no spinning)',
    value: (v) => (isSpinning(v.version) ? 1 : 0),
    margin: () => 0,
  });
  return axes;
}

function isSpinning(id: string): boolean {
  return VERSION_SPECS.find((s) => s.id === id)?.spinning ?? id.includes('spin');
}

function preference(id: string): number {
  const k = VERSION_SPECS.findIndex((s) => s.id === id);
  return k < 0 ? VERSION_SPECS.length : k;
}

/** `a` is clearly better than `b` on `axis`. */
function wins(axis: Axis, a: VersionProfile, b: VersionProfile): boolean {
  const va = axis.value(a);
  const vb = axis.value(b);
  return vb - va > axis.margin(va, vb);
}

/**
 * `w` dominates `v` when `v` is clearly better on no axis, and `w` is clearly better on one
 * (or, where the two measure alike on every axis, `w` is the preferred configuration).
 */
function dominates(axes: readonly Axis[], w: VersionProfile, v: VersionProfile): boolean {
  if (axes.some((a) => wins(a, v, w))) return false;
  return axes.some((a) => wins(a, w, v)) || preference(w.version) < preference(v.version);
}

/**
 * Keeps the Pareto-optimal versions: none kept is beaten on every axis (solo latency at each
 * core count, latency at the top interference level, pressure exerted, spinning) by another.
 * Each kept version says why in `why`. Never returns an empty list.
 */
export function paretoPrune(candidates: readonly VersionProfile[], opts: ParetoOptions): VersionProfile[] {
  if (candidates.length === 0) return [];
  const axes = axesFor(opts);
  const kept = candidates.filter((v) => !candidates.some((w) => w !== v && dominates(axes, w, v)));
  // With noise margins the relation can cycle; then keep the preferred candidate.
  const survivors =
    kept.length > 0
      ? kept
      : [[...candidates].sort((a, b) => preference(a.version) - preference(b.version))[0]];
  return survivors.map((v) => ({ ...v, why: explain(axes, v, survivors, candidates) }));
}

/** The candidates `paretoPrune` dropped, each saying which kept version beats it. */
export function dominatedBy(
  candidates: readonly VersionProfile[],
  kept: readonly VersionProfile[],
  opts: ParetoOptions,
): VersionProfile[] {
  const axes = axesFor(opts);
  const keptIds = new Set(kept.map((v) => v.version));
  return candidates
    .filter((v) => !keptIds.has(v.version))
    .map((v) => {
      const winner = kept.find((w) => dominates(axes, w, v)) ?? kept[0];
      return { ...v, why: `dominated by ${winner.version}` };
    });
}

function explain(
  axes: readonly Axis[],
  v: VersionProfile,
  kept: readonly VersionProfile[],
  all: readonly VersionProfile[],
): string {
  const best = axes.filter((a) => kept.every((w) => w === v || !wins(a, w, v))).map((a) => a.name);
  const pruned = all.filter((w) => !kept.includes(w)).map((w) => w.version);
  const reason = best.length > 0 ? best.join('; ') : 'trade-off: no other version is better on every axis';
  return pruned.length > 0 && kept.length === 1 ? `${reason} (dominates ${pruned.join(', ')})` : reason;
}
