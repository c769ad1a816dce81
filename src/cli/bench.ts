/**
 * `veltair bench --live`: the policies on the live engine, on this machine, under open-loop
 * Poisson load: each policy's peak QPS at 99 % (and 95 %) satisfaction for every model, the
 * simulator's prediction beside it, and what the engine itself costs.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  MEASURING_PROTOCOL,
  machineFingerprint,
  machineKey,
  protocolChange,
  readProfileFor,
} from '../compile/index.js';
import { ortVersion } from '../partition/index.js';
import { type ModelProfileData } from '../profile/index.js';
import {
  NAIVE,
  WORKLOADS,
  benchLive,
  formatLiveBench,
  parseWorkloads,
  qosTargets,
  referenceCases,
  resolveMix,
  satisfactionPlotSvg,
  SATISFACTION_TARGET,
  type LiveScenario,
  RemoteService,
  TRANSPORTS,
  benchRemote,
  formatRemoteBench,
  type RemoteBenchReport,
  type Transport,
  TUNING_SEEDS,
  type Workload,
} from '../load/index.js';
import { LiveRuntime } from '../runtime/index.js';
import { policyNames, policySpec, type PolicyParams } from '../sched/index.js';
import { VeltairError } from '../errors/index.js';
import {
  CONFIRM_QUERIES,
  CONFIRM_QUERIES_HELP,
  confirmFlag,
  numberFlag,
  paramsFlag,
  seedList,
} from './flags.js';
import { mixFiles } from './mix-files.js';

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
  confirmQueries: string;
  operatingQueries: string;
  seed: string;
  tuneSeeds: string;
  params: string;
  tolerance: string;
  checkEvery: string;
  json?: boolean;
  csv?: string;
  plot?: string;
  transport: string;
  grpcPort: string;
  startQps: string;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure policies on the live engine under open-loop load (MLPerf Server timing)')
    .option('--live', 'drive the engine in this process (no HTTP)')
    .option('--url <url>', 'drive a running server at its HTTP address (e.g. http://127.0.0.1:8000)')
    .option('--transport <t>', `with --url: ${TRANSPORTS.join(' | ')}`, 'binary')
    .option('--grpc-port <port>', 'with --url --transport grpc: the server gRPC port', '8001')
    .option('--start-qps <qps>', 'with --url: where the peak search starts', '20')
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
    .option('--confirm-queries <n>', CONFIRM_QUERIES_HELP, CONFIRM_QUERIES)
    .option(
      '--operating-queries <n>',
      "with --live: queries of each policy's first run, whose blocks set what its units are planned at (0: as measured at start)",
      '1000',
    )
    .option('--seed <s>', 'seed of the arrivals of the reported runs', '1')
    .option(
      '--tune-seeds <list>',
      'seeds of the simulated runs each policy is tuned on (the mean peak over them)',
      TUNING_SEEDS.join(','),
    )
    .option(
      '--params <p>',
      "with --live: 'tuned' (chosen on the simulator), 'defaults', or k=v,... for the one policy benched",
      'tuned',
    )
    .option('--tolerance <r>', 'relative resolution of the peak search', '0.05')
    .option('--check-every <n>', 'compare one answer in n with a direct whole-model run', '10')
    .option('--json', 'print one JSON document on stdout')
    .option('--csv <file>', 'write one row per policy and run to a CSV file')
    .option('--plot <file.svg>', 'write satisfaction vs offered QPS per policy')
    .action(async (flags: BenchFlags) => {
      await benchCommand(flags);
    });
}

function parsePolicies(text: string | undefined): string[] {
  const names = text === undefined ? [NAIVE, ...policyNames()] : text.split(',').map((s) => s.trim());
  for (const n of names) if (n !== NAIVE) policySpec(n);
  return [...new Set(names)];
}

/** The mix's model files and their compiled profiles; a missing or foreign profile is an error. */
async function mixModels(repository: string, weights: Record<string, number>) {
  const files = await mixFiles(repository, Object.keys(weights), `(veltair zoo build --out ${repository})`);
  const key = machineKey(machineFingerprint(), ortVersion());
  const out: { name: string; path: string; profile: ModelProfileData }[] = [];
  for (const { name, path } of files) {
    const profile = await readProfileFor(path);
    if (!profile)
      throw new VeltairError(
        'profile_unavailable',
        `${name} has no profile yet (veltair compile ${repository})`,
      );
    if (profile.compile?.machineKey !== key) {
      throw new VeltairError(
        'profile_unavailable',

        `${name}'s profile was compiled on another machine (veltair compile ${repository} --force)`,
      );
    }
    const protocolChanged = protocolChange(profile, MEASURING_PROTOCOL);
    if (protocolChanged) {
      throw new VeltairError(
        'profile_unavailable',
        `${name}'s profile was ${protocolChanged} (veltair compile ${repository})`,
      );
    }
    out.push({ name, path, profile });
  }
  return out;
}

/** The workload, the rate (or a peak search) and the queries per run the flags ask for. */
function runShape(flags: BenchFlags) {
  if (!flags.findPeak && flags.rate === undefined)
    throw new VeltairError('invalid_argument', 'give --find-peak or --rate R');
  if (flags.findPeak && flags.rate !== undefined)
    throw new VeltairError('invalid_argument', 'give either --find-peak or --rate, not both');
  const names = parseWorkloads(flags.workload);
  if (names.length !== 1) throw new VeltairError('invalid_argument', '--workload takes one workload');
  const workload = WORKLOADS[names[0]];
  const rate = flags.rate === undefined ? undefined : numberFlag('--rate', flags.rate, 0.1, false);
  const queries =
    rate === undefined
      ? numberFlag('--queries', flags.queries, 100, true)
      : Math.max(1, Math.round(rate * numberFlag('--duration', flags.duration ?? '20', 1, false)));
  return { workload, rate, queries };
}

/** `--url`: one running server, its peaks under the same generator, over HTTP or gRPC. */
async function benchUrlCommand(flags: BenchFlags, url: string): Promise<void> {
  const { workload, rate, queries } = runShape(flags);
  const transport = flags.transport as Transport;
  if (!TRANSPORTS.includes(transport))
    throw new VeltairError('invalid_argument', `--transport must be one of ${TRANSPORTS.join(', ')}`);
  const { weights } = resolveMix(workload, new Set(Object.keys(workload.weights)));
  const models = await mixFiles(flags.repository, Object.keys(weights), "to check the server's answers with");
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const seed = numberFlag('--seed', flags.seed, 0, true);
  const service = await RemoteService.connect(
    url,
    transport,
    models.map((m) => m.name),
    numberFlag('--grpc-port', flags.grpcPort, 1, true),
  ).catch((err: Error) => {
    throw new VeltairError('invalid_argument', `cannot use the server at ${url}: ${err.message}`);
  });
  try {
    const report = await benchRemote({
      service,
      url,
      transport,
      scenario: {
        workload: workload.name,
        weights,
        qosTargetMs: service.qosTargetMs,
        queries,
        seed,
        cases: await referenceCases(models, 3),
        checkEvery: numberFlag('--check-every', flags.checkEvery, 1, true),
      },
      rate,
      startQps: numberFlag('--start-qps', flags.startQps, 0.5, false),
      relTolerance: numberFlag('--tolerance', flags.tolerance, 0.001, false),
      confirm: confirmFlag(flags.confirmQueries, seed),
      onProgress: say,
    });
    if (flags.plot) writeFileSync(flags.plot, await satisfactionPlotSvg(report.curve, SATISFACTION_TARGET));
    if (flags.csv) writeFileSync(flags.csv, remoteCsv(report));
    if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
    else console.log(formatRemoteBench(report));
  } finally {
    await service.close();
  }
}

/** perf_analyzer's columns where they apply: one row per model of the reported run. */
function remoteCsv(report: RemoteBenchReport): string {
  const lines = ['model,offered_qps,queries,satisfied_pct,rejected,failed,mean_ms,p50_ms,p99_ms'];
  const num = (v: number) => String(Math.round(v * 1000) / 1000);
  const run = report.run;
  for (const m of run?.perModel ?? []) {
    const values = [
      run?.qps ?? 0,
      m.queries,
      100 * m.satisfaction,
      m.rejected,
      m.failed,
      m.meanMs,
      m.p50Ms,
      m.p99Ms,
    ];
    lines.push([m.model, ...values.map(num)].join(','));
  }
  return lines.join('\n') + '\n';
}

async function benchCommand(flags: BenchFlags): Promise<void> {
  if (flags.url !== undefined) return benchUrlCommand(flags, flags.url);
  if (!flags.live) throw new VeltairError('invalid_argument', 'give --live or --url URL');
  const { workload, rate, queries } = runShape(flags);
  const policies = parsePolicies(flags.policies);
  const params = givenParams(policies, flags.params);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const t0 = Date.now();
  const { runtime, scenario, models } = await startLiveBench({
    workload,
    repository: flags.repository,
    queries,
    seed: numberFlag('--seed', flags.seed, 0, true),
    checkEvery: numberFlag('--check-every', flags.checkEvery, 1, true),
    onProgress: say,
  });
  try {
    const report = await benchLive({
      runtime,
      scenario,
      policies,
      models,
      compiled: models.map((m) => m.profile),
      tuneSeeds: seedList('--tune-seeds', flags.tuneSeeds),
      params,
      relTolerance: numberFlag('--tolerance', flags.tolerance, 0.001, false),
      confirm: confirmFlag(flags.confirmQueries, scenario.seed),
      operatingQueries: numberFlag('--operating-queries', flags.operatingQueries, 0, true),
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

/**
 * What `bench --live` runs on: the live runtime started on `workload`'s models from
 * `repository` (each with a profile compiled on this machine), and the scenario of its runs
 * (QoS targets by the workloads' rule, reference answers). The caller stops the runtime.
 */
export async function startLiveBench(opts: {
  workload: Workload;
  repository: string;
  queries: number;
  seed: number;
  checkEvery: number;
  onProgress: (message: string) => void;
}): Promise<{ runtime: LiveRuntime; scenario: LiveScenario; models: Awaited<ReturnType<typeof mixModels>> }> {
  const workload = opts.workload;
  const { weights } = resolveMix(workload, new Set(Object.keys(workload.weights)));
  const models = await mixModels(opts.repository, weights);
  const runtime = await LiveRuntime.start({ models, onProgress: opts.onProgress });
  try {
    const [failed] = runtime.report.unavailable;
    if (failed)
      throw new VeltairError('invalid_argument', `${failed.name} cannot be served: ${failed.reason}`);
    const basis = new Map(models.map((m) => [m.name, runtime.qosBasis(m)]));
    const qos = qosTargets(Object.keys(weights), basis, runtime.pool.cpus.length, false);
    const scenario: LiveScenario = {
      workload: workload.name,
      weights,
      qosTargetMs: Object.fromEntries(Object.entries(qos).map(([m, q]) => [m, q.targetMs])),
      queries: opts.queries,
      seed: opts.seed,
      cases: await referenceCases(models, 3),
      checkEvery: opts.checkEvery,
    };
    return { runtime, scenario, models };
  } catch (err) {
    await runtime.stop();
    throw err;
  }
}

/**
 * `--params` of `bench --live`, as `paramsFlag` reads it for each policy benched: `tuned`, every
 * policy's chosen on the simulator; `defaults`, each its own; `k=v,...` only with one policy.
 */
export function givenParams(
  policies: readonly string[],
  text: string,
): Map<string, PolicyParams> | undefined {
  const registered = policies.filter((p) => p !== NAIVE);
  if (text !== 'tuned' && text !== 'defaults' && registered.length !== 1)
    throw new VeltairError('invalid_argument', '--params k=v,... needs exactly one policy besides naive');
  const given = registered.flatMap((p) => {
    const params = paramsFlag(p, text);
    return params ? [[p, params] as const] : [];
  });
  return given.length > 0 ? new Map(given) : undefined;
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
