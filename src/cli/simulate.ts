/**
 * `veltair simulate`: policies side by side on a simulated CPU. With `--find-peak`, the
 * comparison of docs/evaluation.md: every policy tuned on the tuning seeds, its peak (every
 * model >= 99 %, decided by the sequential test) confirmed on every reporting seed, under both
 * truth settings; flags that shorten it are printed as deviations. With `--qps Q`, every policy
 * runs once at Q with its default parameters.
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
  TRUTH_SETTINGS,
  type TruthSetting,
} from '../sim/index.js';
import { policySpec, policyNames, type PolicySpec } from '../sched/index.js';
import {
  defaultJobs,
  formatAtPeak,
  formatComparison,
  runComparison,
  deviationsFrom,
  PROTOCOL,
  parseWorkloads,
  prepareScenarios,
  round,
  runPoint,
  satisfactionPlotSvg,
  summarise,
  table,
  SATISFACTION_TARGET,
  type ComparisonJob,
  type ProtocolSettings,
  type WorkloadReport,
} from '../load/index.js';
import { VeltairError } from '../errors/index.js';
import { numberFlag, seedList } from './flags.js';

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
  truth: string;
  maxQueries: string;
  chunkQueries: string;
  reportingSeeds: string;
  tuningSeeds: string;
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
    .option(
      '--find-peak',
      'tune every policy and find its peak QPS (every model >= 99%), per docs/evaluation.md',
    )
    .option('--qps <q>', 'run every policy once at this offered load (default parameters)')
    .option(
      '--truth <settings>',
      "the simulated machine: 'profile' (the profiles), 'measured-error' (drawn around them), or 'both'",
      'both',
    )
    .option(
      '--max-queries <n>',
      'find-peak: queries after which an undecided rate fails',
      String(PROTOCOL.test.maxQueries),
    )
    .option(
      '--chunk-queries <n>',
      'find-peak: queries between looks of the sequential test',
      String(PROTOCOL.test.chunkQueries),
    )
    .option(
      '--reporting-seeds <list>',
      'find-peak: seeds the peaks are confirmed on',
      PROTOCOL.reportingSeeds.join(','),
    )
    .option(
      '--tuning-seeds <list>',
      'find-peak: seeds the parameters are chosen on',
      PROTOCOL.tuningSeeds.join(','),
    )
    .option('--seed <s>', 'with --qps (and the plot): seed of arrivals and noise', '1')
    .option('--queries <n>', 'with --qps (and the plot): queries per simulated run', '1500')
    .option(
      '--overhead-us <us>',
      'launch overhead per dispatched block, microseconds',
      String(DEFAULT_DISPATCH_OVERHEAD_US),
    )
    .option('--jobs <n>', 'worker threads the comparison runs on (default: one per core)')
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
  const truths = parseTruths(flags.truth);
  const settings = protocolSettings(flags);
  const deviations = flags.findPeak ? deviationsFrom(settings) : [];
  const header = {
    schema: 'veltair.simulate/2',
    source: source.name,
    notes: source.notes,
    cores: totalCores,
    truths,
    ...(flags.findPeak ? { protocol: settings, deviations } : { seed, queriesPerRun: queries }),
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
    const results = scenarios.flatMap((s) =>
      truths.map((truth) => ({
        workload: s.scenario.workload,
        truth,
        qps,
        rows: specs.map((spec) => ({
          policy: spec.name,
          params: spec.defaults,
          ...summarise(runPoint({ ...s.scenario, truth }, spec, spec.defaults, qps), qps),
        })),
      })),
    );
    if (flags.json) console.log(JSON.stringify({ ...header, mode: 'fixed-qps', results }, null, 2));
    else printFixed(header, results);
  } else {
    const jobs = flags.jobs === undefined ? defaultJobs() : numberFlag('--jobs', flags.jobs, 1, true);
    const job = {
      profiles: flags.profiles,
      repository: flags.repository,
      workloads,
      truths,
      options: { totalCores, queries, seed, dispatchOverheadUs },
      policies: specs.map((p) => p.name),
      settings,
      curve: Boolean(flags.plot),
    };
    const reports = await findPeaks(job, jobs);
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

/** Runs the comparison with a progress bar on a terminal, a line per policy otherwise (stderr). */
async function findPeaks(job: ComparisonJob, parallel: number): Promise<WorkloadReport[]> {
  const bar = process.stderr.isTTY
    ? new SingleBar(
        {
          format: 'tuning and confirming {bar} {value}/{total} policy x workload x truth',
          stream: process.stderr,
        },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(job.workloads.length * job.truths.length * job.policies.length, 0);
  try {
    // Without a terminal (a long run logged to a file), one line per policy says how far it is.
    const startedMs = Date.now();
    return await runComparison(job, parallel, ({ workload, truth, evaluation: e }) => {
      if (bar) bar.increment();
      else
        console.error(
          `${((Date.now() - startedMs) / 1000).toFixed(0)} s: ${workload} ${truth} ${e.policy}: peak ${e.peakQps} QPS (seeds ${e.perSeed.map((p) => p.peakQps).join(', ')})`,
        );
    });
  } finally {
    bar?.stop();
  }
}

function parseTruths(text: string): TruthSetting[] {
  if (text === 'both') return [...TRUTH_SETTINGS];
  const names = text.split(',').map((t) => t.trim());
  for (const n of names)
    if (!(TRUTH_SETTINGS as readonly string[]).includes(n))
      throw new VeltairError(
        'invalid_argument',
        `--truth: unknown setting '${n}' (known: ${TRUTH_SETTINGS.join(', ')}, both)`,
      );
  return [...new Set(names)] as TruthSetting[];
}

function protocolSettings(flags: SimulateFlags): ProtocolSettings {
  const chunkQueries = numberFlag('--chunk-queries', flags.chunkQueries, 100, true);
  const maxQueries = numberFlag('--max-queries', flags.maxQueries, chunkQueries, true);
  if (maxQueries % chunkQueries !== 0)
    throw new VeltairError(
      'invalid_argument',
      `--max-queries (${maxQueries}) must be a multiple of --chunk-queries (${chunkQueries})`,
    );
  return {
    test: { ...PROTOCOL.test, chunkQueries, maxQueries },
    reportingSeeds: seedList('--reporting-seeds', flags.reportingSeeds),
    tuningSeeds: seedList('--tuning-seeds', flags.tuningSeeds),
  };
}

type Header = {
  source: string;
  cores: number;
  truths: TruthSetting[];
  seed?: number;
  protocol?: ProtocolSettings;
  deviations?: string[];
  notes: string[];
  fitHeldOutError: FitError[] | null;
  scenarios: { workload: string; dropped: string[] }[];
};

function printPreamble(header: Header): void {
  const run = header.protocol
    ? `reporting seeds ${header.protocol.reportingSeeds.join(',')}, tuning seeds ${header.protocol.tuningSeeds.join(',')}`
    : `seed ${header.seed}`;
  console.log(`source: ${header.source}, ${header.cores} cores, ${run}; truth: ${header.truths.join(', ')}`);
  if (header.deviations?.length)
    console.log(`  NOT the protocol of docs/evaluation.md: ${header.deviations.join('; ')}`);
  else if (header.protocol)
    console.log('  the protocol of docs/evaluation.md (every model >= 99 %, sequential test)');
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
  for (const r of reports.filter((r, i) => reports.findIndex((o) => o.workload === r.workload) === i)) {
    const qos = Object.entries(r.qosTargetMs)
      .map(([m, t]) => `${m} ${t} ms`)
      .join(', ');
    console.log(
      `${r.workload}: QoS ${qos}; physical limit ${r.physicalLimitQps.toFixed(1)} QPS; idealised preemptive EDF ${r.idealQps.toFixed(1)} QPS (${r.idealDivision} division)`,
    );
  }
  console.log('');
  console.log(formatComparison(reports));
  console.log('');
  console.log(
    "* best baseline; peak: confirmed on every reporting seed (none: no rate passed on all); seeds mean/sd: each seed's own peak; p99/mean/util at the best baseline's peak rate",
  );
  console.log('');
  console.log(
    "At each policy's confirmed peak, first reporting seed (dropped: rejected early; tightest model: the",
  );
  console.log(
    'highest upper bound of a miss rate at the deciding look; slowdown: block run time over undisturbed',
  );
  console.log('time; rates / undecided / queries: what confirming the peak on the reporting seeds took):');
  console.log(formatAtPeak(reports));
}

function printFixed(
  header: Header,
  results: {
    workload: string;
    truth: TruthSetting;
    qps: number;
    rows: ({ policy: string } & ReturnType<typeof summarise>)[];
  }[],
): void {
  printPreamble(header);
  const rows = results.flatMap((w) =>
    w.rows.map((r) => [
      w.workload,
      w.truth,
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
        'truth',
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
      3,
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
