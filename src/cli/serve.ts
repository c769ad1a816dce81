/**
 * `veltair serve`: the Open Inference Protocol over HTTP on the live engine. With no repository
 * it serves the built-in zoo's light models, built into a cache folder on first start.
 */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WORKLOADS } from '../load/index.js';
import { POLICIES } from '../sched/index.js';
import { NAIVE_POLICY, OPERATING_BLOCKS, VeltairServer } from '../server/index.js';
import { RECENT_BLOCKS } from '../runtime/index.js';
import { writeZooRepository, isZooModelName, type ZooModelName } from '../zoo/index.js';
import { VeltairError } from '../errors/index.js';
import { integerFlag, paramsFlag, portFlag, sharesFlag } from './flags.js';

interface ServeFlags {
  repository?: string;
  httpPort: string;
  grpcPort: string;
  host: string;
  policy: string;
  models?: string;
  maxBodyMib: string;
  params?: string;
  weights?: string;
  allowClientShm?: boolean;
  operatingBlocks: string;
}

/** Where the default repository is built: `$XDG_CACHE_HOME/veltair/zoo` or `~/.cache/veltair/zoo`. */
export function zooCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'veltair', 'zoo');
}

/** The light workload's models: what `veltair serve` serves when given no repository. */
function defaultZooModels(): ZooModelName[] {
  return Object.keys(WORKLOADS.light.weights).filter(isZooModelName);
}

/** Builds the zoo models the cache lacks, with a progress bar on a terminal. */
async function ensureZoo(dir: string, say: (m: string) => void): Promise<void> {
  const missing: ZooModelName[] = [];
  for (const name of defaultZooModels()) {
    if (!(await stat(join(dir, name, '1', 'model.onnx')).catch(() => undefined))) missing.push(name);
  }
  if (missing.length === 0) return;
  say(`building the zoo's ${missing.join(', ')} into ${dir} (once)`);
  const bar = process.stderr.isTTY
    ? new SingleBar(
        { format: 'zoo {bar} {value}/{total} {model}', stream: process.stderr },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(missing.length, 0, { model: '' });
  try {
    await writeZooRepository(dir, missing, (e) =>
      bar?.update(e.phase === 'done' ? e.index + 1 : e.index, { model: e.model }),
    );
  } finally {
    bar?.stop();
  }
}

async function serve(flags: ServeFlags): Promise<void> {
  const port = portFlag('--http-port', flags.httpPort);
  const grpcPort = portFlag('--grpc-port', flags.grpcPort);
  if (flags.policy !== NAIVE_POLICY && !Object.hasOwn(POLICIES, flags.policy)) {
    throw new VeltairError(
      'unknown_policy',
      `unknown policy '${flags.policy}' (known: ${[...Object.keys(POLICIES), NAIVE_POLICY].join(', ')})`,
    );
  }
  const maxBodyMib = Number(flags.maxBodyMib);
  if (!(maxBodyMib > 0) || !Number.isFinite(maxBodyMib))
    throw new VeltairError(
      'invalid_argument',
      `--max-body-mib must be a positive number, got '${flags.maxBodyMib}'`,
    );
  const policyParams = paramsFlag(flags.policy, flags.params);
  const say = (m: string) => process.stderr.write(`veltair serve: ${m}\n`);
  const repository = flags.repository ?? zooCacheDir();
  if (flags.repository === undefined) await ensureZoo(repository, say);
  const server = await VeltairServer.start({
    repository,
    policy: flags.policy,
    policyParams,
    weights: flags.weights === undefined ? undefined : sharesFlag('--weights', flags.weights),
    models: flags.models?.split(',').map((m) => m.trim()),
    host: flags.host,
    httpPort: port,
    grpcPort,
    bodyLimitBytes: Math.round(maxBodyMib * 1024 * 1024),
    allowClientShm: flags.allowClientShm ?? false,
    operatingBlocks: integerFlag('--operating-blocks', flags.operatingBlocks, 0, RECENT_BLOCKS),
    onProgress: say,
  });
  const params = server.policyParams === '' ? '' : ` (${server.policyParams})`;
  say(
    `serving ${repository} with policy ${flags.policy}${params}: HTTP ${server.url}/v2, gRPC port ${server.grpcPort}`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      say(`${signal}: finishing the requests inside, then exiting`);
      server.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a model repository over the Open Inference Protocol (KServe v2, REST and gRPC)')
    .option(
      '--repository <dir>',
      "Triton-layout model repository (default: the zoo's light models, built on first start)",
    )
    .option('--http-port <port>', 'HTTP port (0: any free port)', '8000')
    .option('--grpc-port <port>', 'gRPC port (0: any free port)', '8001')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--models <list>', 'serve only these models of the repository (comma-separated)')
    .option('--policy <name>', `scheduling policy (${NAIVE_POLICY} too)`, 'veltair')
    .option(
      '--params <k=v,...>',
      "the policy's parameters: 'tuned' (chosen on the simulator for the served models, at start and after each load or unload), 'defaults', or name=value pairs over the defaults",
      'tuned',
    )
    .option(
      '--weights <model=share,...>',
      "each model's expected share of the load, over its config.json 'weight' (default 1 each)",
    )
    .option(
      '--operating-blocks <n>',
      `plan the units at what the last n blocks cost in operation, looked at every n blocks (0: as measured at start; at most ${RECENT_BLOCKS})`,
      String(OPERATING_BLOCKS),
    )
    .option('--max-body-mib <n>', 'largest request body accepted (HTTP and gRPC), MiB', '64')
    .option(
      '--allow-client-shm',
      "let clients on this machine register /dev/shm objects (Triton's system shared memory extension) for inputs and outputs",
    )
    .action((flags: ServeFlags) => serve(flags));
}
