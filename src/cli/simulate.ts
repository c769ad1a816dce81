/**
 * `veltair simulate`: policies side by side on a simulated CPU. With `--find-peak`, every
 * policy is tuned over its grid and its peak QPS at 99% satisfaction is found per workload;
 * with `--qps Q`, every policy runs once at Q with its default parameters.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Presets, SingleBar } from 'cli-progress';
import {
  DEFAULT_DISPATCH_OVERHEAD_US,
  DEFAULT_NOISE,
  CALIBRATION_NAME,
  heldOutErrors,
  loadProfileSource,
  readCalibration,
  type FitError,
  type ProfileSource,
} from '../sim/index.js';
import { policySpec, policyNames, type PolicySpec } from '../sched/index.js';
import {
  defaultJobs,
  formatAtPeak,
  formatComparison,
  runComparisonJobs,
  parseWorkloads,
  prepareScenarios,
  round,
  runPoint,
  satisfactionPlotSvg,
  summarise,
  table,
  SATISFACTION_TARGET,
  type ComparisonJob,
  type WorkloadReport,
} from '../load/index.js';
import { VeltairError } from '../errors/index.js';
import { numberFlag } from './flags.js';

interface SimulateFlags {
  cores?: string;
  profiles: string;
  repository: string;
  workload: string;
  policies?: string;
  findPeak?: boolean;
  qps?: string;
  seed: string;
  queries: string;
  overheadUs: string;
  json?: boolean;
  plot?: string;
  jobs?: string;
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('compare scheduling policies on a simulated CPU (discrete-event, seeded)')
    .option('--cores <n>', 'simulated cores (default: 64 for the calibration, else the profiles machine)')
    .option(
      '--profiles <src>',
      `'${CALIBRATION_NAME}', 'local' (compiled profiles in --repository) or a path`,
      CALIBRATION_NAME,
    )
    .option('--repository <dir>', 'model repository with compiled profiles', 'models')
    .option('--workload <w>', 'light | medium | heavy | all (or a comma list)', 'all')
    .option('--policies <list>', 'comma-separated policy names (default: all registered)')
    .option('--find-peak', 'tune every policy and find its peak QPS at 99% satisfaction')
    .option('--qps <q>', 'run every policy once at this offered load (default parameters)')
    .option('--seed <s>', 'seed of arrivals and noise', '1')
    .option('--queries <n>', 'queries per simulated run', '1500')
    .option(
      '--overhead-us <us>',
      'launch overhead per dispatched block, microseconds',
      String(DEFAULT_DISPATCH_OVERHEAD_US),
    )
    .option(
      '--jobs <n>',
      'workloads compared in parallel on worker threads (default: one per core, at most one per workload)',
    )
    .option('--json', 'print one JSON document on stdout')
    .option('--plot <file.svg>', 'write satisfaction vs offered QPS per policy (with --find-peak)')
    .action(async (flags: SimulateFlags) => {
      await simulateCommand(flags);
    });
}

function parsePolicies(text: string | undefined): PolicySpec[] {
  const names =
    text === undefined
      ? policyNames()
      : text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  if (names.length === 0)
    throw new VeltairError('invalid_argument', `--policies is empty; known: ${policyNames().join(', ')}`);
  return [...new Set(names)].map((n) => policySpec(n));
}

async function simulateCommand(flags: SimulateFlags): Promise<void> {
  if (!flags.findPeak && flags.qps === undefined)
    throw new VeltairError('invalid_argument', 'give --find-peak or --qps Q');
  if (flags.findPeak && flags.qps !== undefined)
    throw new VeltairError('invalid_argument', 'give either --find-peak or --qps, not both');
  if (flags.plot && !flags.findPeak) throw new VeltairError('invalid_argument', '--plot needs --find-peak');
  const specs = parsePolicies(flags.policies);
  const workloads = parseWorkloads(flags.workload);
  const seed = numberFlag('--seed', flags.seed, 0, true);
  const queries = numberFlag('--queries', flags.queries, 100, true);
  const dispatchOverheadUs = numberFlag('--overhead-us', flags.overheadUs, 0, false);
  const source = loadProfileSource(flags.profiles, flags.repository);
  const totalCores =
    flags.cores === undefined ? defaultCores(source) : numberFlag('--cores', flags.cores, 1, true);
  const scenarios = prepareScenarios(source, workloads, { totalCores, queries, seed, dispatchOverheadUs });
  const header = {
    schema: 'veltair.simulate/1',
    source: source.name,
    notes: source.notes,
    cores: totalCores,
    seed,
    queriesPerRun: queries,
    dispatchOverheadUs,
    noise: DEFAULT_NOISE,
    satisfactionTarget: SATISFACTION_TARGET,
    fitHeldOutError: source.calibrated64 ? heldOutErrors(readCalibration()).map(roundFit) : null,
    scenarios: scenarios.map((s) => ({
      workload: s.scenario.workload,
      weights: s.scenario.weights,
      qos: s.qos,
      dropped: s.dropped,
    })),
  };
  const started = Date.now();
  if (flags.qps !== undefined) {
    const qps = numberFlag('--qps', flags.qps, Number.MIN_VALUE, false);
    const results = scenarios.map((s) => ({
      workload: s.scenario.workload,
      qps,
      rows: specs.map((spec) => ({
        policy: spec.name,
        params: spec.defaults,
        ...summarise(runPoint(s.scenario, spec, spec.defaults, qps), qps),
      })),
    }));
    if (flags.json) console.log(JSON.stringify({ ...header, mode: 'fixed-qps', results }, null, 2));
    else printFixed(header, results);
  } else {
    const jobs =
      flags.jobs === undefined ? defaultJobs(workloads.length) : numberFlag('--jobs', flags.jobs, 1, true);
    const reports = await findPeaks(
      workloads.map((workload) => ({
        profiles: flags.profiles,
        repository: flags.repository,
        workload,
        options: { totalCores, queries, seed, dispatchOverheadUs },
        policies: specs.map((p) => p.name),
        curve: Boolean(flags.plot),
      })),
      jobs,
      !flags.json,
    );
    if (flags.plot) await writePlot(flags.plot, reports);
    if (flags.json)
      console.log(JSON.stringify({ ...header, mode: 'find-peak', workloads: reports }, null, 2));
    else printComparison(header, reports);
  }
  console.error(`veltair simulate: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function defaultCores(source: ProfileSource): number {
  return Math.min(...source.profiles.map((p) => p.machine.usableCores));
}

function roundFit(f: FitError) {
  return {
    ...f,
    meanRelError: round(f.meanRelError, 4),
    medianRelError: round(f.medianRelError, 4),
    p90RelError: round(f.p90RelError, 4),
  };
}

async function findPeaks(
  jobs: ComparisonJob[],
  parallel: number,
  progress: boolean,
): Promise<WorkloadReport[]> {
  const bar =
    progress && process.stderr.isTTY
      ? new SingleBar(
          { format: 'tuning {bar} {value}/{total} policy x workload', stream: process.stderr },
          Presets.shades_classic,
        )
      : undefined;
  bar?.start(jobs.length * jobs[0].policies.length, 0);
  try {
    return await runComparisonJobs(jobs, parallel, () => bar?.increment());
  } finally {
    bar?.stop();
  }
}

type Header = {
  source: string;
  cores: number;
  seed: number;
  notes: string[];
  fitHeldOutError: FitError[] | null;
  scenarios: { workload: string; dropped: string[] }[];
};

function printPreamble(header: Header): void {
  console.log(`source: ${header.source}, ${header.cores} cores, seed ${header.seed}`);
  for (const n of header.notes) console.log(`  ${n}`);
  for (const f of header.fitHeldOutError ?? [])
    console.log(
      `  scaling fit, ${f.split}: mean ${(f.meanRelError * 100).toFixed(1)}%, median ${(f.medianRelError * 100).toFixed(1)}%, p90 ${(f.p90RelError * 100).toFixed(1)}% relative error (${f.points} points)`,
    );
  for (const s of header.scenarios)
    if (s.dropped.length > 0)
      console.log(`  ${s.workload}: no profile for ${s.dropped.join(', ')} (left out of the mix)`);
}

function printComparison(header: Header, reports: WorkloadReport[]): void {
  printPreamble(header);
  for (const r of reports) {
    const qos = Object.entries(r.qosTargetMs)
      .map(([m, t]) => `${m} ${t} ms`)
      .join(', ');
    console.log(`${r.workload}: QoS ${qos}; physical limit ${r.physicalLimitQps.toFixed(1)} QPS`);
  }
  console.log('');
  console.log(formatComparison(reports));
  console.log('');
  console.log("* best baseline; p99/mean/util/conflict/blocks measured at the best baseline's peak rate");
  console.log('');
  console.log("At each policy's own peak (dropped: rejected early; missed: all misses incl. dropped;");
  console.log('slowdown: block run time over undisturbed time, mean weighted by core-time):');
  console.log(formatAtPeak(reports));
}

function printFixed(
  header: Header,
  results: { workload: string; qps: number; rows: ({ policy: string } & ReturnType<typeof summarise>)[] }[],
): void {
  printPreamble(header);
  const rows = results.flatMap((w) =>
    w.rows.map((r) => [
      w.workload,
      r.policy,
      w.qps.toFixed(1),
      (r.satisfaction * 100).toFixed(2) + '%',
      r.p99LatencyMs.toFixed(2),
      r.meanLatencyMs.toFixed(2),
      r.utilization.toFixed(2),
      r.conflictRate.toFixed(2),
      r.blocksPerQuery.toFixed(1),
      r.decideCallsPerSecond.toFixed(0),
    ]),
  );
  console.log('');
  console.log(
    table(
      [
        'workload',
        'policy',
        'QPS',
        'satisfied',
        'p99 ms',
        'mean ms',
        'util',
        'conflict',
        'blocks/q',
        'decides/s',
      ],
      rows,
    ),
  );
}

/** Draws the satisfaction curves the comparison jobs swept (`satisfactionCurve`). */
async function writePlot(file: string, reports: WorkloadReport[]): Promise<void> {
  const points = reports.flatMap((r) => r.curve ?? []);
  try {
    writeFileSync(file, await satisfactionPlotSvg(points, SATISFACTION_TARGET));
  } catch (err) {
    throw new VeltairError('invalid_argument', `--plot: cannot write ${file}: ${(err as Error).message}`);
  }
}
