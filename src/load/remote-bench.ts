/**
 * `veltair bench --url`: the live benchmark's open-loop generator against a running server,
 * over HTTP (JSON or binary tensors) or gRPC. One server, one policy: its peaks at 99 % and 95 %
 * satisfaction of every model (or one run at a rate), latency percentiles, and the worst answer
 * past its deadline.
 */
import { round, table, type CurvePoint } from './compare.js';
import { runLive, type LiveRunOptions, type LiveRunResult, type LiveScenario } from './live.js';
import {
  againWhenStolen,
  confirmation,
  fmt,
  runLine,
  searchLivePeaks,
  type PeakConfirmation,
} from './live-bench.js';
import type { PeakPoint } from './peak.js';
import type { RemoteService, Transport } from './remote.js';

export interface RemoteBenchOptions {
  readonly service: RemoteService;
  readonly url: string;
  readonly transport: Transport;
  readonly scenario: LiveScenario;
  /** Instead of searching peaks: one run at this rate. */
  readonly rate?: number;
  /** Where the peak search starts (QPS). */
  readonly startQps: number;
  readonly relTolerance: number;
  /** How the 99 % peak is confirmed (none: the search's peak is reported). */
  readonly confirm?: PeakConfirmation;
  readonly onProgress?: (message: string) => void;
}

export interface RemoteBenchReport {
  schema: 'veltair.bench-remote/1';
  url: string;
  transport: Transport;
  workload: string;
  qosTargetMs: Readonly<Record<string, number>>;
  queriesPerRun: number;
  /** How the 99 % peak was confirmed (null: it was not). */
  confirm: PeakConfirmation | null;
  /** Highest rate with every model >= 99 % (null: none passed; or a --rate run), confirmed where asked. */
  peakQps: number | null;
  /** The highest the search's short runs passed at 99 %, before confirmation. */
  searchedPeakQps: number | null;
  /** Of the confirming run at the peak: the highest model's miss rate bound (`PeakConfirmation`). */
  peakUpperMissRate: number | null;
  peak95Qps: number | null;
  rateQps: number | null;
  /** The run at the peak (or at the rate). */
  run?: LiveRunResult;
  /** The most any answer or rejection came after its deadline, over every run (ms). */
  worstOvershootMs: number;
  points: PeakPoint[];
  curve: CurvePoint[];
}

export async function benchRemote(opts: RemoteBenchOptions): Promise<RemoteBenchReport> {
  const { service, scenario: scn } = opts;
  const progress = opts.onProgress ?? (() => {});
  await service.preload([...scn.cases.values()].flat().flatMap((c) => Object.values(c.feeds)));
  const run = againWhenStolen(async (qps: number, runOpts: LiveRunOptions) => {
    const result = await runLive(service, scn, qps, runOpts);
    progress(runLine(qps, result));
    return { result };
  }, progress);
  const base = {
    schema: 'veltair.bench-remote/1' as const,
    url: opts.url,
    transport: opts.transport,
    workload: scn.workload,
    qosTargetMs: scn.qosTargetMs,
    queriesPerRun: scn.queries,
    confirm: opts.confirm ?? null,
  };
  if (opts.rate !== undefined) {
    const { result } = await run(opts.rate, {});
    return {
      ...base,
      peakQps: null,
      searchedPeakQps: null,
      peakUpperMissRate: null,
      peak95Qps: null,
      rateQps: opts.rate,
      run: result,
      worstOvershootMs: round(service.worstOvershootMs, 2),
      points: [],
      curve: [],
    };
  }
  const { p99, p95, searchedQps, points, atPeak, upperMissRate } = await searchLivePeaks(run, {
    startQps: opts.startQps,
    // Below a quarter of where the search started, a passing run takes minutes: 'none' instead.
    minQps: opts.startQps / 4,
    relTolerance: opts.relTolerance,
    confirm: opts.confirm,
  });
  return {
    ...base,
    peakQps: p99.peakQps > 0 ? round(p99.peakQps, 1) : null,
    searchedPeakQps: searchedQps > 0 ? round(searchedQps, 1) : null,
    peakUpperMissRate: upperMissRate === undefined ? null : round(upperMissRate, 4),
    peak95Qps: p95.peakQps > 0 ? round(p95.peakQps, 1) : null,
    rateQps: null,
    run: atPeak?.result,
    worstOvershootMs: round(service.worstOvershootMs, 2),
    points,
    curve: points.map((p) => ({
      workload: `${scn.workload} (${opts.transport})`,
      policy: opts.url,
      qps: p.qps,
      satisfaction: p.satisfaction,
    })),
  };
}

export function formatRemoteBench(r: RemoteBenchReport): string {
  const run = r.run;
  const models = Object.keys(r.qosTargetMs);
  const lines = [
    `${r.url} over ${r.transport}, workload ${r.workload}; QoS targets ${models
      .map((m) => `${m} ${r.qosTargetMs[m]} ms`)
      .join(', ')}; ${r.queriesPerRun} queries per search run${confirmation(r.confirm)}`,
  ];
  if (r.rateQps === null) {
    lines.push(
      `peak QPS with every model >= 99 %: ${r.peakQps === null ? 'none' : fmt(r.peakQps)} (searched: ${r.searchedPeakQps === null ? 'none' : fmt(r.searchedPeakQps)}${r.peakUpperMissRate === null ? '' : `; miss <= ${fmt(100 * r.peakUpperMissRate, 2)} %`}); at 95 %: ${r.peak95Qps === null ? 'none' : fmt(r.peak95Qps)}`,
    );
  }
  lines.push(`worst answer or rejection past its deadline: ${fmt(Math.max(0, r.worstOvershootMs), 2)} ms`);
  if (run) {
    lines.push(
      `at ${fmt(run.qps)} QPS (checked ${run.checked} answers):`,
      table(
        ['model', 'queries', 'satisfied %', 'rejected', 'failed', 'mean ms', 'p50 ms', 'p99 ms'],
        run.perModel.map((m) => [
          m.model,
          String(m.queries),
          fmt(100 * m.satisfaction),
          String(m.rejected),
          String(m.failed),
          fmt(m.meanMs, 2),
          fmt(m.p50Ms, 2),
          fmt(m.p99Ms, 2),
        ]),
      ),
    );
  }
  return lines.join('\n');
}
