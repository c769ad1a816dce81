/**
 * `veltair bench --live`: the policies on the live engine, on this machine, under open-loop
 * Poisson load: each policy's peak QPS at 99 % (and 95 %) satisfaction for every model, the
 * simulator's prediction beside it, and what the engine itself costs.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  findModels,
  machineFingerprint,
  machineKey,
  modelNameFor,
  ortVersion,
  readProfileFor,
  type ModelProfileData,
} from '../compile/index.js';
import {
  NAIVE,
  WORKLOADS,
  WorkloadError,
  benchLive,
  formatLiveBench,
  parseWorkloads,
  qosTargets,
  referenceCases,
  resolveMix,
  satisfactionPlotSvg,
  SATISFACTION_TARGET,
  type LiveScenario,
} from '../load/index.js';
import { LiveRuntime } from '../runtime/index.js';
import { policyNames, policySpec, UnknownPolicyError } from '../sched/index.js';
import { UsageError } from './errors.js';

interface BenchFlags {
  live?: boolean;
  url?: string;
  workload: string;
  repository: string;
  policies?: string;
  rate?: string;
  duration?: string;
  findPeak?: boolean;
  queries: string;
  seed: string;
  tuneSeed: string;
  tolerance: string;
  checkEvery: string;
  json?: boolean;
  csv?: string;
  plot?: string;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure policies on the live engine under open-loop load (MLPerf Server timing)')
    .option('--live', 'drive the engine in this process (no HTTP)')
    .option('--url <url>', 'drive a running server (not available yet: use --live)')
    .option('--workload <w>', 'light | medium | heavy', 'light')
    .option('--repository <dir>', 'model repository with compiled profiles', 'models')
    .option(
      '--policies <list>',
      `comma-separated, '${NAIVE}' included (default: ${NAIVE} and every registered policy)`,
    )
    .option('--rate <qps>', 'one run per policy at this rate (with --duration)')
    .option('--duration <s>', 'length of a --rate run in seconds', '20')
    .option('--find-peak', 'find each policy peak QPS at 99 % (and 95 %) satisfaction for every model')
    .option('--queries <n>', 'queries per peak-search run', '1000')
    .option('--seed <s>', 'seed of the arrivals of the reported runs', '1')
    .option('--tune-seed <s>', 'seed of the simulated runs that tune each policy', '101')
    .option('--tolerance <r>', 'relative resolution of the peak search', '0.05')
    .option('--check-every <n>', 'compare one answer in n with a direct whole-model run', '10')
    .option('--json', 'print one JSON document on stdout')
    .option('--csv <file>', 'write one row per policy and run to a CSV file')
    .option('--plot <file.svg>', 'write satisfaction vs offered QPS per policy')
    .action(async (flags: BenchFlags) => {
      await benchCommand(flags);
    });
}

function numberFlag(flag: string, text: string, min: number, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${text}'`);
  return n;
}

function parsePolicies(text: string | undefined): string[] {
  const names = text === undefined ? [NAIVE, ...policyNames()] : text.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n === NAIVE) continue;
    try {
      policySpec(n);
    } catch (err) {
      if (err instanceof UnknownPolicyError) throw new UsageError(`--policies: ${err.message}, ${NAIVE}`);
      throw err;
    }
  }
  return [...new Set(names)];
}

/** The mix's model files and their compiled profiles; a missing or foreign profile is an error. */
async function mixModels(repository: string, weights: Record<string, number>) {
  const files = new Map((await findModels(repository)).map((f) => [modelNameFor(f), f]));
  const key = machineKey(machineFingerprint(), ortVersion());
  const out: { name: string; path: string; profile: ModelProfileData }[] = [];
  for (const name of Object.keys(weights)) {
    const path = files.get(name);
    if (!path)
      throw new UsageError(`${repository} has no model '${name}' (veltair zoo build --out ${repository})`);
    const profile = await readProfileFor(path);
    if (!profile) throw new UsageError(`${name} has no profile yet (veltair compile ${repository})`);
    if (profile.compile?.machineKey !== key) {
      throw new UsageError(
        `${name}'s profile was compiled on another machine (veltair compile ${repository} --force)`,
      );
    }
    out.push({ name, path, profile });
  }
  return out;
}

async function benchCommand(flags: BenchFlags): Promise<void> {
  if (flags.url !== undefined) throw new UsageError('--url is not available yet; use --live');
  if (!flags.live) throw new UsageError('give --live');
  if (!flags.findPeak && flags.rate === undefined) throw new UsageError('give --find-peak or --rate R');
  if (flags.findPeak && flags.rate !== undefined)
    throw new UsageError('give either --find-peak or --rate, not both');
  let workload;
  try {
    const names = parseWorkloads(flags.workload);
    if (names.length !== 1) throw new UsageError('--workload takes one workload');
    workload = WORKLOADS[names[0]];
  } catch (err) {
    if (err instanceof WorkloadError) throw new UsageError(err.message);
    throw err;
  }
  const policies = parsePolicies(flags.policies);
  const rate = flags.rate === undefined ? undefined : numberFlag('--rate', flags.rate, 0.1, false);
  const queries =
    rate === undefined
      ? numberFlag('--queries', flags.queries, 100, true)
      : Math.max(1, Math.round(rate * numberFlag('--duration', flags.duration ?? '20', 1, false)));
  const { weights } = resolveMix(workload, new Set(Object.keys(workload.weights)));
  const models = await mixModels(flags.repository, weights);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const t0 = Date.now();
  const runtime = await LiveRuntime.start({ models, onProgress: say });
  try {
    const [failed] = runtime.report.unavailable;
    if (failed) throw new UsageError(`${failed.name} cannot be served: ${failed.reason}`);
    const qos = qosTargets(Object.keys(weights), runtime.predictors, runtime.pool.cpus.length, false);
    const scenario: LiveScenario = {
      workload: workload.name,
      weights,
      qosTargetMs: Object.fromEntries(Object.entries(qos).map(([m, q]) => [m, q.targetMs])),
      queries,
      seed: numberFlag('--seed', flags.seed, 0, true),
      cases: await referenceCases(models, 3),
      checkEvery: numberFlag('--check-every', flags.checkEvery, 1, true),
    };
    const report = await benchLive({
      runtime,
      scenario,
      policies,
      models,
      compiled: models.map((m) => m.profile),
      tuneSeed: numberFlag('--tune-seed', flags.tuneSeed, 0, true),
      relTolerance: numberFlag('--tolerance', flags.tolerance, 0.001, false),
      rate,
      onProgress: say,
    });
    if (flags.plot) writeFileSync(flags.plot, await satisfactionPlotSvg(report.curve, SATISFACTION_TARGET));
    if (flags.csv) writeFileSync(flags.csv, csvOf(report));
    if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
    else console.log(formatLiveBench(report));
  } finally {
    await runtime.stop();
    process.stderr.write(`veltair bench: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
}

/** One row per policy and run: perf_analyzer's columns where they apply. */
function csvOf(report: Awaited<ReturnType<typeof benchLive>>): string {
  const lines = [
    'policy,offered_qps,complete,queries,satisfied,min_model_satisfaction,mean_ms,p99_ms,throughput_qps',
  ];
  for (const row of report.rows) {
    for (const run of [row.atPeak, row.atReference]) {
      if (!run) continue;
      const throughput = run.durationMs > 0 ? (run.satisfied / run.durationMs) * 1000 : 0;
      lines.push(
        [
          row.policy,
          run.qps,
          run.complete,
          run.queries,
          run.satisfied,
          run.minSatisfaction,
          run.meanLatencyMs,
          run.p99LatencyMs,
          throughput,
        ]
          .map((v) => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v)))
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}
