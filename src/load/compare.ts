/**
 * The side-by-side comparison `veltair simulate --find-peak` prints, by the protocol of
 * docs/evaluation.md: per workload and truth setting, every policy tuned on the tuning seeds,
 * its peak confirmed on every reporting seed (with each seed's own peak, their mean and
 * spread), its ratios to the best baseline and to the physical limit, and how each policy
 * behaves at the best baseline's peak rate.
 */
import { formatParams, type PolicyParams, type PolicyRole, type PolicySpec } from '../sched/index.js';
import type { FluidDivision, SimResult, TruthSetting } from '../sim/index.js';
import { physicalLimitQps, runPoint, type Scenario } from './evaluate.js';
import type { SeedPeak } from './peak.js';
import {
  protocolPeak,
  runRate,
  tuneOnProtocol,
  type IdealReference,
  type ProtocolSettings,
  type RateRun,
} from './protocol.js';
import type { ModelBounds, Verdict } from './sequential.js';

/** One point of a satisfaction curve: a policy's satisfaction at an offered rate. */
export interface CurvePoint {
  workload: string;
  policy: string;
  qps: number;
  satisfaction: number;
}

/** Satisfaction below this is drawn at the floor (runs there stop early: only an upper bound is known). */
export const PLOT_FLOOR = 0.5;

/** One policy tuned and its peak confirmed: what a comparison job computes. */
export interface PolicyEvaluation {
  policy: string;
  role: PolicyRole;
  params: PolicyParams;
  /** The chosen grid point's confirmed peak on the tuning seeds. */
  tuningPeakQps: number;
  /** Grid points tried, and how many of them were searched in full (the others pruned). */
  gridPoints: number;
  gridSearched: number;
  /** Confirmed on every reporting seed (0: no rate passed on all of them). */
  peakQps: number;
  perSeed: SeedPeak[];
  meanQps: number;
  spreadQps: number;
  /** Every rate decided on the reporting seeds, in order. */
  decisions: DecisionSummary[];
  /** The first reporting seed's run at the confirmed peak (none without a peak). */
  atPeak: PointSummary | null;
}

export interface DecisionSummary {
  qps: number;
  seed: number;
  verdict: Verdict;
  decidedQueries: number;
}

export interface PolicyRow extends PolicyEvaluation {
  /** null when the comparison has no baseline with a peak, or this policy has none. */
  ratioToBestBaseline: number | null;
  ratioToPhysicalLimit: number;
  /** Peak over the idealised reference's (null when the reference passed at no rate). */
  ratioToIdeal: number | null;
  /** Measured at the best baseline's peak rate on the first reporting seed (null without one). */
  atReference: PointSummary | null;
}

export interface PointSummary {
  qps: number;
  seed: number;
  verdict: Verdict;
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
  /** Each model's tally and miss-rate bounds at the deciding look. */
  models: ModelBounds[];
}

export interface WorkloadReport {
  workload: string;
  truth: TruthSetting;
  /** Satisfaction vs offered QPS per policy (`satisfactionCurve`), when the job asked for it. */
  curve?: CurvePoint[];
  weights: Record<string, number>;
  qosTargetMs: Record<string, number>;
  physicalLimitQps: number;
  /**
   * The idealised reference's confirmed peak (`idealPeak`: preemptive EDF on a fluid machine
   * that is the profiles, without noise, under the better of its divisions of the cores): what
   * the targets and the interference leave to a scheduler that no block-level policy can match.
   */
  idealQps: number;
  /** The division of the cores (`FluidDivision`) that reached it. */
  idealDivision: FluidDivision;
  bestBaseline: string | null;
  referenceQps: number | null;
  rows: PolicyRow[];
}

/** Tunes `spec` on the tuning seeds, then confirms its peak on the reporting seeds. */
export function evaluatePolicy(
  scn: Scenario,
  spec: PolicySpec,
  settings: ProtocolSettings,
): PolicyEvaluation {
  const tuning = tuneOnProtocol(scn, spec, settings);
  const peak = protocolPeak(scn, spec, tuning.params, settings.reportingSeeds, settings.test);
  const [firstSeed] = settings.reportingSeeds;
  const atPeak = peak.runs.find((r) => r.qps === peak.peakQps && r.seed === firstSeed);
  return {
    policy: spec.name,
    role: spec.role,
    params: tuning.params,
    tuningPeakQps: round(tuning.tuningPeakQps, 2),
    gridPoints: tuning.tried.length,
    gridSearched: tuning.tried.filter((t) => t.peakQps !== null).length,
    peakQps: round(peak.peakQps, 2),
    perSeed: peak.perSeed.map((p) => ({ seed: p.seed, peakQps: round(p.peakQps, 2) })),
    meanQps: round(peak.meanQps, 2),
    spreadQps: round(peak.spreadQps, 2),
    decisions: peak.runs.map((r) => ({
      qps: round(r.qps, 2),
      seed: r.seed,
      verdict: r.verdict,
      decidedQueries: r.decidedQueries,
    })),
    atPeak: atPeak ? summariseRun(atPeak) : null,
  };
}

/** The reference rate: the best baseline's confirmed peak (null when no baseline has one). */
export function referenceOf(evaluations: readonly PolicyEvaluation[]): PolicyEvaluation | undefined {
  return evaluations
    .filter((e) => e.role === 'baseline' && e.peakQps > 0)
    .reduce<PolicyEvaluation | undefined>((b, e) => (!b || e.peakQps > b.peakQps ? e : b), undefined);
}

/** `spec` with its tuned parameters at the reference rate, on the first reporting seed. */
export function runAtReference(
  scn: Scenario,
  spec: PolicySpec,
  params: PolicyParams,
  qps: number,
  settings: ProtocolSettings,
): PointSummary {
  return summariseRun(runRate(scn, spec, params, qps, settings.reportingSeeds[0], settings.test));
}

/** Puts the evaluations and the runs at the reference rate together into one report. */
export function assembleReport(
  scn: Scenario,
  evaluations: readonly PolicyEvaluation[],
  atReference: ReadonlyMap<string, PointSummary>,
  idealised: IdealReference,
): WorkloadReport {
  const limit = physicalLimitQps(scn);
  const ideal = round(idealised.peakQps, 2);
  const best = referenceOf(evaluations);
  const reference = best?.peakQps ?? null;
  return {
    workload: scn.workload,
    truth: scn.truth ?? 'profile',
    weights: { ...scn.weights },
    qosTargetMs: { ...scn.qosTargetMs },
    physicalLimitQps: round(limit, 1),
    idealQps: ideal,
    idealDivision: idealised.division,
    bestBaseline: best?.policy ?? null,
    referenceQps: reference,
    rows: evaluations.map((e) => ({
      ...e,
      ratioToBestBaseline: reference && e.peakQps > 0 ? round(e.peakQps / reference, 3) : null,
      ratioToPhysicalLimit: round(e.peakQps / limit, 3),
      ratioToIdeal: ideal > 0 ? round(e.peakQps / ideal, 3) : null,
      atReference: e === best ? e.atPeak : (atReference.get(e.policy) ?? null),
    })),
  };
}

function summariseRun(run: RateRun): PointSummary {
  return {
    ...summarise(run.sim, run.qps),
    seed: run.seed,
    verdict: run.verdict,
    models: run.models.map(roundBounds),
  };
}

function roundBounds(m: ModelBounds): ModelBounds {
  return { ...m, lowerMissRate: round(m.lowerMissRate, 5), upperMissRate: round(m.upperMissRate, 5) };
}

/** A simulated run's figures (the fixed-rate mode prints these as they are). */
export type RunSummary = Omit<PointSummary, 'seed' | 'verdict' | 'models'>;

export function summarise(r: SimResult, qps: number): RunSummary {
  return {
    qps: round(qps, 2),
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

/** The human table: one row per (workload, truth setting, policy). */
export function formatComparison(reports: readonly WorkloadReport[]): string {
  const header = [
    'workload',
    'truth',
    'policy',
    'peak QPS',
    'seeds mean',
    'sd',
    'x best base',
    'x phys limit',
    'x ideal',
    'p99 ms',
    'mean ms',
    'util',
    'params',
  ];
  const rows = reports.flatMap((w) =>
    w.rows.map((r) => [
      w.workload,
      w.truth,
      r.policy + (r.policy === w.bestBaseline ? ' *' : ''),
      r.peakQps > 0 ? r.peakQps.toFixed(1) : 'none',
      r.meanQps.toFixed(1),
      r.spreadQps.toFixed(1),
      r.ratioToBestBaseline === null ? '-' : r.ratioToBestBaseline.toFixed(2),
      r.ratioToPhysicalLimit.toFixed(2),
      r.ratioToIdeal === null ? '-' : r.ratioToIdeal.toFixed(2),
      r.atReference ? r.atReference.p99LatencyMs.toFixed(2) : '-',
      r.atReference ? r.atReference.meanLatencyMs.toFixed(2) : '-',
      r.atReference ? r.atReference.utilization.toFixed(2) : '-',
      formatParams(r.params),
    ]),
  );
  return table(header, rows, 3);
}

/**
 * What limits each policy at its confirmed peak (first reporting seed): how busy the cores
 * were, how often a ready query could not start, how many queries it dropped, the model
 * closest to its bound, and how much co-runners slowed its blocks; and what the search cost.
 */
export function formatAtPeak(reports: readonly WorkloadReport[]): string {
  const header = [
    'workload',
    'truth',
    'policy',
    'util',
    'conflict',
    'dropped',
    'tightest model (misses, upper bound)',
    'slowdown mean',
    'p90',
    'rates',
    'undecided',
    'queries',
  ];
  const rows = reports.flatMap((w) =>
    w.rows.map((r) => {
      const a = r.atPeak;
      const tight = a?.models.reduce<ModelBounds | undefined>(
        (t, m) => (!t || m.upperMissRate > t.upperMissRate ? m : t),
        undefined,
      );
      const undecided = r.decisions.filter((d) => d.verdict === 'undecided').length;
      const queries = r.decisions.reduce((n, d) => n + d.decidedQueries, 0);
      return [
        w.workload,
        w.truth,
        r.policy,
        a ? a.utilization.toFixed(2) : '-',
        a ? a.conflictRate.toFixed(2) : '-',
        a ? String(a.rejected) : '-',
        tight
          ? `${tight.model} ${tight.misses}/${tight.queries} <= ${(tight.upperMissRate * 100).toFixed(2)}%`
          : '-',
        a ? a.meanSlowdown.toFixed(2) : '-',
        a ? a.p90Slowdown.toFixed(2) : '-',
        String(r.decisions.length),
        String(undecided),
        String(queries),
      ];
    }),
  );
  return table(header, rows, 3);
}

/**
 * Each tuned policy swept over 0.4x..1.6x of the workload's highest peak: the satisfaction
 * curves of the plot (one fixed-length run per rate, pooled over models: an illustration, not
 * a decision). Runs stop once satisfaction falls under PLOT_FLOOR (drawn at the floor).
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
        workload: `${report.workload}, ${report.truth}`,
        policy: row.policy,
        qps,
        satisfaction: round(r.satisfaction, 4),
      });
    }
  }
  return points;
}

/** A plain-text table: the first `left` columns and the last are left-aligned, the rest right. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < left || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
