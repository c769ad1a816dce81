/**
 * `veltair soak` (`npm run soak`): the server under steady open-loop load for minutes, with
 * malformed requests mixed in. It reports what a production rollout would watch: errors other
 * than rejections and the malformed requests' 4xx, satisfaction per model, and the server's
 * resident memory over time.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RemoteService, runLive, table, type LiveRunResult, type Transport } from '../load/index.js';
import { HTTP_TRANSPORTS, lightMix, startServer, stopServer } from './bench-serve.js';
import { VeltairError } from '../errors/index.js';
import { portFlag } from './flags.js';

interface SoakFlags {
  repository: string;
  policy: string;
  rate: string;
  minutes: string;
  malformedShare: string;
  port: string;
  transport: string;
  params: string;
  json?: boolean;
}

/** Requests a careless or hostile client sends, and the status each must get. */
const MALFORMED: readonly { what: string; path: string; body: string; status: number }[] = [
  { what: 'malformed JSON', path: 'mobilenetv2', body: '{"inputs": [', status: 400 },
  { what: 'unknown model', path: 'no-such-model', body: '{"inputs": []}', status: 404 },
  {
    what: 'wrong datatype',
    path: 'resnet18',
    body: JSON.stringify({
      inputs: [{ name: 'input', datatype: 'INT64', shape: [1, 3, 224, 224], data: [1] }],
    }),
    status: 400,
  },
  {
    what: 'wrong element count',
    path: 'googlenet',
    body: JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data: [1, 2, 3] }],
    }),
    status: 400,
  },
  { what: 'missing input', path: 'efficientnet-b0', body: '{"inputs": []}', status: 400 },
];

/**
 * The resident memory of process `pid` and its descendants (bytes), from /proc: the launcher
 * (bin/veltair.js) re-executes node, so the server is the child of the process started.
 */
function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  const own = kb ? Number(kb[1]) * 1024 : 0;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return own + children.reduce((sum, child) => sum + rssBytes(Number(child)), 0);
}

async function soak(flags: SoakFlags): Promise<void> {
  const rate = Number(flags.rate);
  const minutes = Number(flags.minutes);
  const share = Number(flags.malformedShare);
  if (!(rate > 0) || !(minutes > 0) || !(share >= 0 && share < 1)) {
    throw new VeltairError(
      'invalid_argument',
      '--rate and --minutes must be positive, --malformed-share in [0, 1)',
    );
  }
  const port = portFlag('--port', flags.port);
  const transport = flags.transport as Transport;
  if (!HTTP_TRANSPORTS.includes(transport))
    throw new VeltairError('invalid_argument', `--transport must be one of ${HTTP_TRANSPORTS.join(', ')}`);
  const { weights, cases } = await lightMix(flags.repository);
  const say = (m: string) => process.stderr.write(`${m}\n`);
  say(`starting veltair serve (${flags.policy})`);
  const child = await startServer(flags.repository, weights, flags.policy, port, flags.params);
  const url = `http://127.0.0.1:${port}`;
  const memory: MemorySample[] = [];
  const malformed = { sent: 0, expected: 0, other: [] as string[] };
  let run: LiveRunResult;
  const t0 = Date.now();
  const sample = async () => {
    const atS = Math.round((Date.now() - t0) / 1000);
    const rssMiB = rssBytes(child.pid!) / 2 ** 20;
    const text = await fetch(`${url}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    const mib = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    memory.push({
      atS,
      rssMiB,
      heapMiB: mib('nodejs_heap_size_used_bytes'),
      externalMiB: mib('nodejs_external_memory_bytes'),
    });
  };
  // A sample that fails (the server gone between two reads of /proc) is said, not thrown: the
  // run itself reports a server that died.
  const sampler = setInterval(
    () => sample().catch((err: Error) => say(`memory sample failed: ${err.message}`)),
    15_000,
  );
  // Malformed requests at `share` of the rate, each checked for its status.
  const badEveryMs = share > 0 ? 1000 / (rate * share) : Infinity;
  const badPending: Promise<void>[] = [];
  let k = 0;
  const bad = Number.isFinite(badEveryMs)
    ? setInterval(() => {
        const m = MALFORMED[k++ % MALFORMED.length];
        malformed.sent++;
        badPending.push(
          fetch(`${url}/v2/models/${m.path}/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: m.body,
          })
            .then(async (r) => {
              const body = (await r.json()) as { error?: string };
              if (r.status === m.status && typeof body.error === 'string') malformed.expected++;
              else malformed.other.push(`${m.what}: ${r.status} ${JSON.stringify(body).slice(0, 120)}`);
            })
            // A refused connection or a body that is not JSON: either is a wrong answer.
            .catch((err: Error) => void malformed.other.push(`${m.what}: ${err.message}`)),
        );
      }, badEveryMs)
    : undefined;
  try {
    await sample();
    const service = await RemoteService.connect(url, transport, Object.keys(weights));
    await service.preload([...cases.values()].flat().flatMap((c) => Object.values(c.feeds)));
    say(
      `soaking at ${rate} QPS over ${transport} for ${minutes} min, ${(100 * share).toFixed(0)} % malformed on top`,
    );
    run = await runLive(
      service,
      {
        workload: 'light',
        weights,
        qosTargetMs: service.qosTargetMs,
        queries: Math.round(rate * minutes * 60),
        seed: 7,
        cases,
        checkEvery: 10,
      },
      rate,
    );
    clearInterval(bad);
    await Promise.all(badPending);
    await sample();
    await service.close();
    report(run, malformed, memory, service.worstOvershootMs, flags.json ?? false);
  } finally {
    clearInterval(sampler);
    clearInterval(bad);
    await stopServer(child);
  }
}

function report(
  run: LiveRunResult,
  malformed: { sent: number; expected: number; other: string[] },
  memory: readonly MemorySample[],
  worstLateMs: number,
  json: boolean,
): void {
  const failed = run.perModel.reduce((n, m) => n + m.failed, 0);
  const rejected = run.perModel.reduce((n, m) => n + m.rejected, 0);
  // Memory after warm-up: from the first sample a quarter into the run.
  const settled = memory.filter((s) => s.atS >= memory[memory.length - 1].atS / 4);
  const growth = settled.length > 1 ? settled[settled.length - 1].rssMiB / settled[0].rssMiB - 1 : 0;
  const perHour = (key: 'rssMiB' | 'heapMiB' | 'externalMiB') => slopePerHour(settled, key);
  const summary = {
    schema: 'veltair.soak/1',
    qps: run.qps,
    queries: run.queries,
    durationS: run.durationMs / 1000,
    checkedAnswers: run.checked,
    failed,
    rejected,
    malformedSent: malformed.sent,
    malformedAnsweredAsExpected: malformed.expected,
    unexpected: malformed.other,
    perModel: run.perModel,
    worstLateMs: worstLateMs,
    stolenShare: run.stolenShare,
    memory,
    rssGrowthAfterWarmup: growth,
    afterWarmupMiBPerHour: {
      rss: perHour('rssMiB'),
      heap: perHour('heapMiB'),
      external: perHour('externalMiB'),
    },
  };
  if (json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  console.log(
    [
      `${run.queries} queries at ${run.qps} QPS over ${(run.durationMs / 60000).toFixed(1)} min (${run.checked} answers checked): ${failed} failed, ${rejected} rejected`,
      `${malformed.sent} malformed requests: ${malformed.expected} got their 4xx and an error body, ${malformed.other.length} did not`,
      ...malformed.other.slice(0, 5).map((o) => `  ${o}`),
      table(
        ['model', 'queries', 'satisfied %', 'rejected', 'failed', 'mean ms', 'p99 ms'],
        run.perModel.map((m) => [
          m.model,
          String(m.queries),
          (100 * m.satisfaction).toFixed(2),
          String(m.rejected),
          String(m.failed),
          m.meanMs.toFixed(2),
          m.p99Ms.toFixed(2),
        ]),
      ),
      `worst answer past its deadline (client): ${Math.max(0, worstLateMs).toFixed(1)} ms`,
      `the host took ${run.stolenShare === null ? 'an unknown share' : `${(100 * run.stolenShare).toFixed(1)} %`} of the CPUs' time over the run (steal)`,
      `server resident memory (MiB) by second: ${memory.map((s) => `${s.atS}:${s.rssMiB.toFixed(0)}`).join(' ')}`,
      `engine thread's V8 heap used (MiB) by second: ${memory.map((s) => `${s.atS}:${s.heapMiB.toFixed(0)}`).join(' ')}`,
      `after warm-up it changed by ${(100 * growth).toFixed(1)} %; trend (least squares) in MiB per hour: resident ${perHour('rssMiB').toFixed(0)}, V8 heap ${perHour('heapMiB').toFixed(0)}, external ${perHour('externalMiB').toFixed(0)}`,
    ].join('\n'),
  );
}

interface MemorySample {
  atS: number;
  /** The server process and its children. */
  rssMiB: number;
  /** The engine thread's V8 heap in use, and memory held outside it (its /metrics). */
  heapMiB: number;
  externalMiB: number;
}

/** Least-squares slope of `key` over time, in MiB per hour. */
function slopePerHour(samples: readonly MemorySample[], key: 'rssMiB' | 'heapMiB' | 'externalMiB'): number {
  const points = samples.filter((s) => Number.isFinite(s[key]));
  if (points.length < 2) return 0;
  const mean = (f: (s: MemorySample) => number) => points.reduce((a, s) => a + f(s), 0) / points.length;
  const t = mean((s) => s.atS);
  const y = mean((s) => s[key]);
  const cov = mean((s) => (s.atS - t) * (s[key] - y));
  const variance = mean((s) => (s.atS - t) ** 2);
  return variance > 0 ? (cov / variance) * 3600 : 0;
}

export function register(program: Command): void {
  program
    .command('soak')
    .description('the server under steady load with malformed requests mixed in: errors, QoS, memory')
    .option('--repository <dir>', "repository with the light workload's models", 'models')
    .option('--policy <name>', 'scheduling policy of the server', 'veltair')
    .option('--rate <qps>', 'offered load (e.g. 80 % of the policy peak over HTTP)', '30')
    .option('--minutes <m>', 'how long', '10')
    .option('--malformed-share <r>', 'malformed requests on top, as a share of the rate', '0.05')
    .option('--port <port>', 'HTTP port for the server', '18100')
    .option('--transport <t>', `how queries carry tensors: ${HTTP_TRANSPORTS.join(' | ')}`, 'binary')
    .option('--params <p>', "the policy's parameters, as serve's --params takes them", 'tuned')
    .option('--json', 'print one JSON document on stdout')
    .action((flags: SoakFlags) => soak(flags));
}
