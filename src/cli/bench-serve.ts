/**
 * `veltair bench-serve` (`npm run bench:serve`): the server started once per policy on the same
 * models, each one's peak found by the same open-loop generator over HTTP (binary tensors, or
 * inputs in system shared memory, or JSON), in a process of its own. Beside each peak, measured
 * in the same run just before it: the same policy's in-process peak (`bench --live`, in a process
 * of its own too) and the simulator's prediction of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { mixFiles } from './mix-files.js';
import {
  NAIVE,
  RemoteService,
  WORKLOADS,
  benchRemote,
  confirmation,
  referenceCases,
  round,
  table,
  type LiveBenchReport,
  type RemoteBenchReport,
  type Transport,
} from '../load/index.js';
import { VeltairError } from '../errors/index.js';
import { formatParams } from '../sched/index.js';
import { CONFIRM_QUERIES, CONFIRM_QUERIES_HELP, confirmFlag, numberFlag, portFlag } from './flags.js';

const VELTAIR = fileURLToPath(new URL('../../bin/veltair.js', import.meta.url));
/** The arrival seed and resolution of every peak search, over HTTP and in process alike. */
const SEARCH_SEED = 1;
const SEARCH_TOLERANCE = 0.05;
const DEFAULT_POLICIES = [
  NAIVE,
  'instance-per-core',
  'static-partition',
  'model-fcfs',
  'layer-wise',
  'veltair',
];

interface BenchServeFlags {
  repository: string;
  policies: string;
  inProcess: string;
  queries: string;
  confirmQueries: string;
  port: string;
  transport: string;
  json?: boolean;
}

/** How bench-serve's generator may reach its servers: HTTP on this machine. */
export const HTTP_TRANSPORTS: readonly Transport[] = ['binary', 'shm', 'json'];

interface ServeRow {
  policy: string;
  /** Confirmed where asked (`RemoteBenchReport.peakQps`). */
  peakQps: number | null;
  searchedPeakQps: number | null;
  peak95Qps: number | null;
  worstOvershootMs: number;
  /** The server's own measure of the same (its metric `veltair_worst_late_seconds`), in ms. */
  serverWorstLateMs: number | null;
  /** Of that, the most no block in flight at the deadline excused (`veltair_worst_late_beyond_block_seconds`), in ms. */
  serverLateBeyondBlockMs: number | null;
  /**
   * Of that, the most beyond the request's longest block (`veltair_worst_late_beyond_longest_block_seconds`),
   * in ms: 0 while the deadline promise holds (decision 0014).
   */
  serverLateBeyondLongestBlockMs: number | null;
  /** The parameters the server's policy ran with (`veltair_policy_info`; empty for `naive`). */
  serverParams: string | null;
  /** The same policy's in-process peak, the simulator's prediction, the targets and parameters; null when not measured. */
  inProcess: {
    peakQps: number | null;
    simQps: number | null;
    qosTargetMs: Readonly<Record<string, number>>;
    params: string;
  } | null;
  report: RemoteBenchReport;
}

/** The light workload's models in `repository`, and reference answers to check the server's with. */
export async function lightMix(repository: string) {
  const weights = WORKLOADS.light.weights;
  const models = await mixFiles(repository, Object.keys(weights), "(the light workload's)");
  return { weights, cases: await referenceCases(models, 3) };
}

/**
 * `veltair serve` on the mix's models, told their shares of the load, in a child process;
 * resolved once it answers its readiness probe. It takes shared memory regions from its clients
 * (all on this machine).
 */
export async function startServer(
  repository: string,
  weights: Readonly<Record<string, number>>,
  policy: string,
  port: number,
  params = 'tuned',
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      VELTAIR,
      'serve',
      '--repository',
      repository,
      '--models',
      Object.keys(weights).join(','),
      '--weights',
      Object.entries(weights)
        .map(([m, w]) => `${m}=${w}`)
        .join(','),
      '--policy',
      policy,
      '--params',
      params,
      '--http-port',
      String(port),
      '--grpc-port',
      '0',
      '--allow-client-shm',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new VeltairError('server_exited', `veltair serve exited (${child.exitCode}): ${log.trim()}`);
    const ok = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 1000));
  }
  child.kill('SIGKILL');
  throw new VeltairError('server_exited', `veltair serve did not become ready in 10 minutes: ${log.trim()}`);
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function benchServe(flags: BenchServeFlags): Promise<void> {
  const policies = flags.policies.split(',').map((p) => p.trim());
  const port = portFlag('--port', flags.port);
  const queries = numberFlag('--queries', flags.queries, 1, true);
  const confirm = confirmFlag(flags.confirmQueries, SEARCH_SEED);
  const transport = flags.transport as Transport;
  if (!HTTP_TRANSPORTS.includes(transport)) {
    throw new VeltairError('invalid_argument', `--transport must be one of ${HTTP_TRANSPORTS.join(', ')}`);
  }
  const inProcess = new Set(flags.inProcess.split(',').map((p) => p.trim()));
  const { weights, cases } = await lightMix(flags.repository);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const rows: ServeRow[] = [];
  for (const policy of policies) {
    const live = inProcess.has(policy)
      ? await inProcessPeak(
          flags.repository,
          policy,
          { queries, confirmQueries: confirm?.queries ?? 0 },
          (m) => say(`${policy} in process: ${m}`),
        )
      : undefined;
    const liveRow = live?.rows.find((r) => r.policy === policy);
    say(`${policy}: starting veltair serve`);
    // The in-process run's parameters, so that the two peaks differ by the API layer only.
    const params = liveRow && liveRow.role !== 'live-baseline' ? formatParams(liveRow.params) : undefined;
    const child = await startServer(flags.repository, weights, policy, port, params);
    try {
      const url = `http://127.0.0.1:${port}`;
      const service = await RemoteService.connect(url, transport, Object.keys(weights));
      const report = await benchRemote({
        service,
        url,
        transport,
        scenario: {
          workload: 'light',
          weights,
          qosTargetMs: service.qosTargetMs,
          queries,
          seed: SEARCH_SEED,
          cases,
          checkEvery: 10,
        },
        startQps: liveRow?.searchedPeakQps ?? liveRow?.peak95Qps ?? 20,
        relTolerance: SEARCH_TOLERANCE,
        confirm,
        onProgress: (m) => say(`${policy}: ${m}`),
      });
      await service.close();
      const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
      const gauge = (name: string) => {
        const value = new RegExp(`^${name} ([\\d.e+-]+)$`, 'm').exec(metrics);
        return value ? round(1000 * Number(value[1]), 1) : null;
      };
      const params = /^veltair_policy_info\{.*params="([^"]*)".*\} 1$/m.exec(metrics);
      rows.push({
        serverWorstLateMs: gauge('veltair_worst_late_seconds'),
        serverLateBeyondBlockMs: gauge('veltair_worst_late_beyond_block_seconds'),
        serverLateBeyondLongestBlockMs: gauge('veltair_worst_late_beyond_longest_block_seconds'),
        serverParams: params ? params[1] : null,
        policy,
        peakQps: report.peakQps,
        searchedPeakQps: report.searchedPeakQps,
        peak95Qps: report.peak95Qps,
        worstOvershootMs: report.worstOvershootMs,
        inProcess:
          live && liveRow
            ? {
                peakQps: liveRow.peakQps,
                simQps: liveRow.simPeakQps,
                qosTargetMs: live.qosTargetMs,
                params: formatParams(liveRow.params),
              }
            : null,
        report,
      });
    } finally {
      await stopServer(child);
    }
  }
  const summary = formatServeTable(rows, transport);
  if (!flags.json) return console.log(summary);
  process.stdout.write(JSON.stringify({ schema: 'veltair.bench-serve/1', transport, rows }) + '\n');
  // The table still reaches the reader, on stderr beside the progress lines.
  console.error(summary);
}

/**
 * `policy`'s peak on the in-process engine, found by `veltair bench --live` with the same queries
 * per run, seed and resolution as the HTTP search, in a process of its own: the same process set-up
 * as the server's, and nothing of this one's (its generator, its reference sessions) beside it.
 */
async function inProcessPeak(
  repository: string,
  policy: string,
  runs: { queries: number; confirmQueries: number },
  onProgress: (message: string) => void,
): Promise<LiveBenchReport> {
  const args = [
    ...['bench', '--live', '--find-peak', '--workload', 'light', '--repository', repository],
    ...['--policies', policy, '--queries', String(runs.queries), '--seed', String(SEARCH_SEED)],
    ...['--confirm-queries', String(runs.confirmQueries)],
    ...['--tolerance', String(SEARCH_TOLERANCE), '--json'],
  ];
  const child = spawn(process.execPath, [VELTAIR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  let lastLine = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines.map((l) => l.trim()).filter(Boolean)) {
      onProgress(line);
      lastLine = line;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  // Its error is its last line (`veltair: <code>: <message>`), already passed on as progress.
  if (code !== 0)
    throw new VeltairError(
      'server_exited',
      `bench --live --policies ${policy} exited (${code}): ${partial.trim() || lastLine}`,
    );
  return JSON.parse(out) as LiveBenchReport;
}

const TRANSPORT_WORDS: Readonly<Record<Transport, string>> = {
  binary: 'binary tensors',
  shm: 'inputs in system shared memory',
  json: 'JSON tensors',
  grpc: 'gRPC',
};

function formatServeTable(rows: readonly ServeRow[], transport: Transport): string {
  const confirmed = rows.find((r) => r.report.confirm)?.report.confirm ?? null;
  const naive = rows.find((r) => r.policy === NAIVE);
  const f = (x: number | null, d = 1) => (x === null ? 'none' : x.toFixed(d));
  const ratio = (a: number | null, b: number | null | undefined) =>
    a !== null && b ? (a / b).toFixed(2) : '-';
  return [
    `peak QPS over HTTP (${TRANSPORT_WORDS[transport]}) with every model >= 99 % (none: no rate passed); in-process and simulated peaks measured in the same run (-: not measured)${confirmation(confirmed)}`,
    table(
      [
        'policy',
        'HTTP peak',
        'searched',
        'miss <= %',
        'x naive',
        'HTTP @95%',
        'x naive @95%',
        'in-process',
        'HTTP / in-process',
        'sim',
        'late ms (client)',
        'late ms (server)',
        'beyond block ms',
        'beyond longest block ms',
      ],
      rows.map((r) => [
        r.policy,
        f(r.peakQps),
        f(r.searchedPeakQps),
        r.report.peakUpperMissRate === null ? '-' : (100 * r.report.peakUpperMissRate).toFixed(2),
        ratio(r.peakQps, naive?.peakQps),
        f(r.peak95Qps),
        ratio(r.peak95Qps, naive?.peak95Qps),
        r.inProcess ? f(r.inProcess.peakQps) : '-',
        ratio(r.peakQps, r.inProcess?.peakQps),
        r.inProcess ? f(r.inProcess.simQps) : '-',
        round(Math.max(0, r.worstOvershootMs), 1).toFixed(1),
        r.serverWorstLateMs === null ? '-' : r.serverWorstLateMs.toFixed(1),
        r.serverLateBeyondBlockMs === null ? '-' : r.serverLateBeyondBlockMs.toFixed(1),
        r.serverLateBeyondLongestBlockMs === null ? '-' : r.serverLateBeyondLongestBlockMs.toFixed(1),
      ]),
    ),
    ...targetLines(rows),
    ...paramLines(rows),
  ].join('\n');
}

/** What each policy ran with, and whether the server chose what the in-process bench chose. */
export function paramLines(
  rows: readonly Pick<ServeRow, 'policy' | 'serverParams' | 'inProcess'>[],
): string[] {
  return rows
    .filter((r) => r.serverParams)
    .map((r) => {
      const inProcess = r.inProcess?.params;
      if (inProcess === undefined) return `${r.policy} parameters (server): ${r.serverParams}`;
      if (inProcess === r.serverParams) return `${r.policy} parameters (server and in process): ${inProcess}`;
      return `${r.policy} parameters: server ${r.serverParams}; in process ${inProcess}`;
    });
}

type TargetsOfRow = Pick<ServeRow, 'policy' | 'inProcess'> & {
  report: Pick<RemoteBenchReport, 'qosTargetMs'>;
};

/**
 * The QoS targets each peak was found under: one line when every server and in-process run had
 * the same (decision 0013), else one per set with the runs that had it.
 */
export function targetLines(rows: readonly TargetsOfRow[]): string[] {
  const runs = rows.flatMap((r) => [
    { run: `${r.policy} (HTTP)`, targets: r.report.qosTargetMs },
    ...(r.inProcess ? [{ run: `${r.policy} (in process)`, targets: r.inProcess.qosTargetMs }] : []),
  ]);
  const bySet = new Map<string, string[]>();
  for (const { run, targets } of runs) {
    const set = Object.keys(targets)
      .sort()
      .map((m) => `${m} ${targets[m]}`)
      .join(', ');
    bySet.set(set, [...(bySet.get(set) ?? []), run]);
  }
  if (bySet.size === 1) return [`QoS targets (ms), the same in every run: ${[...bySet.keys()][0]}`];
  return [...bySet].map(([set, using]) => `QoS targets (ms) ${set}: ${using.join(', ')}`);
}

export function register(program: Command): void {
  program
    .command('bench-serve')
    .description('start veltair serve once per policy and find each peak QPS over HTTP')
    .option(
      '--repository <dir>',
      "repository with the light workload's models (compiled on this machine)",
      'models',
    )
    .option('--policies <list>', 'comma-separated policies (naive included)', DEFAULT_POLICIES.join(','))
    .option(
      '--in-process <list>',
      'policies whose in-process peak is measured too, just before their HTTP peak',
      DEFAULT_POLICIES.join(','),
    )
    .option('--queries <n>', 'queries per peak-search run', '1000')
    .option('--confirm-queries <n>', CONFIRM_QUERIES_HELP, CONFIRM_QUERIES)
    .option('--port <port>', 'HTTP port for the servers', '18000')
    .option(
      '--transport <t>',
      `how requests carry tensors: ${HTTP_TRANSPORTS.join(' | ')} (shm: inputs placed in /dev/shm once, named in each request)`,
      'binary',
    )
    .option('--json', 'print the rows as one JSON document on stdout')
    .action((flags: BenchServeFlags) => benchServe(flags));
}
