/**
 * The side-by-side comparison `veltair simulate --find-peak` prints: per workload, every
 * policy tuned by the same search, its peak, ratios to the best baseline and to the
 * physical limit, and how each policy behaves at the best baseline's peak rate.
 */
import type { PolicyParams, PolicyRole, PolicySpec } from '../sched/index.js';
import type { SimResult } from '../sim/index.js';
import { physicalLimitQps, runPoint, tunePolicy, type Scenario } from './evaluate.js';
import type { PeakPoint } from './peak.js';

/** One point of a satisfaction curve: a policy's satisfaction at an offered rate. */
export interface CurvePoint {
  workload: string;
  policy: string;
  qps: number;
  satisfaction: number;
}

/** Satisfaction below this is drawn at the floor (runs there stop early: only an upper bound is known). */
export const PLOT_FLOOR = 0.5;

export interface PolicyRow {
  policy: string;
  role: PolicyRole;
  params: PolicyParams;
  peakQps: number;
  /** null when the comparison has no baseline. */
  ratioToBestBaseline: number | null;
  ratioToPhysicalLimit: number;
  /** Measured at the best baseline's peak rate (each policy's own peak when there is no baseline). */
  atReference: PointSummary;
  /** Measured at this policy's own peak rate: what limits it there. */
  atPeak: PointSummary;
  searchPoints: PeakPoint[];
}

export interface PointSummary {
  qps: number;
  satisfaction: number;
  p99LatencyMs: number;
  meanLatencyMs: number;
  throughputQps: number;
  utilization: number;
  conflictRate: number;
  blocksPerQuery: number;
  decideCallsPerSecond: number;
  queries: number;
  /** Queries the policy dropped (rejected) and queries left waiting at the end. */
  rejected: number;
  stranded: number;
  /** Run time over undisturbed time of completed blocks (see SimResult). */
  meanSlowdown: number;
  p90Slowdown: number;
  maxSlowdown: number;
  perModel: SimResult['perModel'];
}

export interface WorkloadReport {
  workload: string;
  /** Satisfaction vs offered QPS per policy (`satisfactionCurve`), when the job asked for it. */
  curve?: CurvePoint[];
  weights: Record<string, number>;
  qosTargetMs: Record<string, number>;
  physicalLimitQps: number;
  bestBaseline: string | null;
  referenceQps: number | null;
  rows: PolicyRow[];
}

export function compareWorkload(
  scn: Scenario,
  specs: readonly PolicySpec[],
  onProgress?: () => void,
): WorkloadReport {
  const limit = physicalLimitQps(scn);
  const tuned = specs.map((spec) => {
    const t = tunePolicy(scn, spec);
    onProgress?.();
    return { spec, role: spec.role, ...t };
  });
  const baselines = tuned.filter((t) => t.role === 'baseline');
  const best = baselines.reduce<(typeof tuned)[number] | undefined>(
    (b, t) => (!b || t.peakQps > b.peakQps ? t : b),
    undefined,
  );
  const reference = best?.peakQps ?? null;
  const rows = tuned.map((t): PolicyRow => {
    const qps = reference ?? t.peakQps;
    // The tuning kept the complete run at the peak; at the reference rate the best baseline
    // (or, without baselines, every policy) runs exactly that again.
    const atPeak = t.peakQps > 0 ? (t.atPeak ?? runPoint(scn, t.spec, t.params, t.peakQps)) : undefined;
    const atRef = qps === t.peakQps ? atPeak : qps > 0 ? runPoint(scn, t.spec, t.params, qps) : undefined;
    return {
      policy: t.spec.name,
      role: t.role,
      params: t.params,
      peakQps: round(t.peakQps, 1),
      ratioToBestBaseline: reference ? round(t.peakQps / reference, 3) : null,
      ratioToPhysicalLimit: round(t.peakQps / limit, 3),
      atReference: summarise(atRef, qps),
      atPeak: summarise(atPeak, t.peakQps),
      searchPoints: t.points.map((p) => ({
        ...p,
        qps: round(p.qps, 2),
        satisfaction: round(p.satisfaction, 4),
      })),
    };
  });
  return {
    workload: scn.workload,
    weights: { ...scn.weights },
    qosTargetMs: { ...scn.qosTargetMs },
    physicalLimitQps: round(limit, 1),
    bestBaseline: best?.spec.name ?? null,
    referenceQps: reference === null ? null : round(reference, 1),
    rows,
  };
}

export function summarise(r: SimResult | undefined, qps: number): PointSummary {
  if (!r)
    return {
      qps,
      satisfaction: 0,
      p99LatencyMs: 0,
      meanLatencyMs: 0,
      throughputQps: 0,
      utilization: 0,
      conflictRate: 0,
      blocksPerQuery: 0,
      decideCallsPerSecond: 0,
      queries: 0,
      rejected: 0,
      stranded: 0,
      meanSlowdown: 1,
      p90Slowdown: 1,
      maxSlowdown: 1,
      perModel: [],
    };
  return {
    qps: round(qps, 1),
    satisfaction: round(r.satisfaction, 4),
    p99LatencyMs: round(r.p99LatencyMs, 3),
    meanLatencyMs: round(r.meanLatencyMs, 3),
    throughputQps: round(r.throughputQps, 2),
    utilization: round(r.utilization, 4),
    conflictRate: round(r.conflictRate, 4),
    blocksPerQuery: round(r.blocksPerQuery, 2),
    decideCallsPerSecond: round(r.decideCallsPerSecond, 1),
    queries: r.queries,
    rejected: r.rejected,
    stranded: r.stranded,
    meanSlowdown: round(r.meanSlowdown, 3),
    p90Slowdown: round(r.p90Slowdown, 3),
    maxSlowdown: round(r.maxSlowdown, 3),
    perModel: r.perModel.map((m) => ({
      ...m,
      meanMs: round(m.meanMs, 3),
      p50Ms: round(m.p50Ms, 3),
      p99Ms: round(m.p99Ms, 3),
    })),
  };
}

export function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The human table: one row per (workload, policy). */
export function formatComparison(reports: readonly WorkloadReport[]): string {
  const header = [
    'workload',
    'policy',
    'peak QPS',
    'x best base',
    'x phys limit',
    'p99 ms',
    'mean ms',
    'util',
    'conflict',
    'blocks/q',
    'params',
  ];
  const rows: string[][] = [];
  for (const w of reports) {
    for (const r of w.rows) {
      rows.push([
        w.workload,
        r.policy + (r.policy === w.bestBaseline ? ' *' : ''),
        r.peakQps.toFixed(1),
        r.ratioToBestBaseline === null ? '-' : r.ratioToBestBaseline.toFixed(2),
        r.ratioToPhysicalLimit.toFixed(2),
        r.atReference.p99LatencyMs.toFixed(2),
        r.atReference.meanLatencyMs.toFixed(2),
        r.atReference.utilization.toFixed(2),
        r.atReference.conflictRate.toFixed(2),
        r.atReference.blocksPerQuery.toFixed(1),
        Object.entries(r.params)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ]);
    }
  }
  return table(header, rows);
}

/**
 * What limits each policy at its own peak: how busy the cores were, how often a ready query
 * could not start, how many queries it dropped, and how much co-runners slowed its blocks.
 */
export function formatAtPeak(reports: readonly WorkloadReport[]): string {
  const header = [
    'workload',
    'policy',
    'peak QPS',
    'util',
    'conflict',
    'dropped',
    'missed',
    'slowdown mean',
    'p90',
    'max',
  ];
  const rows = reports.flatMap((w) =>
    w.rows.map((r) => {
      const a = r.atPeak;
      const missed = a.queries - Math.round(a.satisfaction * a.queries);
      return [
        w.workload,
        r.policy,
        r.peakQps.toFixed(1),
        a.utilization.toFixed(2),
        a.conflictRate.toFixed(2),
        String(a.rejected),
        `${missed}/${a.queries}`,
        a.meanSlowdown.toFixed(2),
        a.p90Slowdown.toFixed(2),
        a.maxSlowdown.toFixed(2),
      ];
    }),
  );
  return table(header, rows);
}

/**
 * Each tuned policy swept over 0.4x..1.6x of the workload's highest peak: the satisfaction
 * curves of the plot. Runs stop once satisfaction falls under PLOT_FLOOR (drawn at the floor).
 */
export function satisfactionCurve(
  scn: Scenario,
  report: WorkloadReport,
  specs: readonly PolicySpec[],
): CurvePoint[] {
  const top = Math.max(...report.rows.map((r) => r.peakQps));
  if (!(top > 0)) return [];
  const points: CurvePoint[] = [];
  for (const row of report.rows) {
    const spec = specs.find((p) => p.name === row.policy);
    if (!spec) continue;
    for (let f = 0.4; f <= 1.61; f += 0.15) {
      const qps = round(top * f, 2);
      const r = runPoint(scn, spec, row.params, qps, { stopBelow: PLOT_FLOOR });
      points.push({
        workload: report.workload,
        policy: row.policy,
        qps,
        satisfaction: round(r.satisfaction, 4),
      });
    }
  }
  return points;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
