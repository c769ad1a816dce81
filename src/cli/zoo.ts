import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import {
  ZOO_MODELS,
  ZOO_MODEL_NAMES,
  isZooModelName,
  writeZooRepository,
  type WrittenModel,
  type ZooModelName,
  type ZooProgress,
} from '../zoo/index.js';
import { VeltairError } from '../errors/index.js';
import { integerFlag } from './flags.js';

interface BuildFlags {
  out: string;
  models?: string;
  seed: string;
  seqLen: string;
  json?: boolean;
}

/** The requested names, in order, without repeats; every name must be known. */
export function parseModelList(text: string | undefined): ZooModelName[] {
  if (text === undefined) return [...ZOO_MODEL_NAMES];
  const names = [...new Set(text.split(',').map((s) => s.trim()))].filter((s) => s !== '');
  const unknown = names.filter((n) => !isZooModelName(n));
  if (unknown.length > 0) {
    throw new VeltairError(
      'unknown_model',
      `unknown model(s) ${unknown.join(', ')}; known: ${ZOO_MODEL_NAMES.join(', ')}`,
    );
  }
  if (names.length === 0)
    throw new VeltairError('invalid_argument', `--models is empty; known: ${ZOO_MODEL_NAMES.join(', ')}`);
  return names as ZooModelName[];
}

const mega = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const giga = (n: number) => `${(n / 1e9).toFixed(3)} G`;
const mebibytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function formatWritten(w: WrittenModel): string {
  return [
    w.name.padEnd(16),
    `${mega(w.parameterCount)} params`.padEnd(17),
    `${giga(w.macs)}MACs`.padEnd(13),
    mebibytes(w.fileBytes).padStart(10),
    `  ${w.modelPath}`,
  ].join('');
}

/** A progress bar on stderr when it is a terminal; nothing otherwise (logs stay clean). */
function progressReporter(total: number): { onProgress: (e: ZooProgress) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { onProgress: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    { format: 'zoo {bar} {value}/{total} {model} ({phase})', stream: process.stderr, clearOnComplete: true },
    Presets.shades_classic,
  );
  bar.start(total, 0, { model: '', phase: '' });
  return {
    onProgress: (e) =>
      bar.update(e.phase === 'done' ? e.index + 1 : e.index, { model: e.model, phase: e.phase }),
    stop: () => bar.stop(),
  };
}

async function runBuild(flags: BuildFlags): Promise<void> {
  const names = parseModelList(flags.models);
  const seed = integerFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
  const seqLen = integerFlag('--seq-len', flags.seqLen, 1, 512);
  const progress = progressReporter(names.length);
  let written: WrittenModel[];
  try {
    written = await writeZooRepository(
      flags.out,
      names,
      (e) => {
        progress.onProgress(e);
        if (e.phase === 'done' && e.written && !flags.json) {
          progress.stop();
          console.log(formatWritten(e.written));
        }
      },
      { seed, seqLen },
    );
  } finally {
    progress.stop();
  }
  if (flags.json) console.log(JSON.stringify({ repository: flags.out, models: written }));
}

function runList(flags: { json?: boolean }): void {
  if (flags.json) {
    console.log(JSON.stringify(ZOO_MODELS));
    return;
  }
  for (const m of ZOO_MODELS) {
    const qos = m.qosTargetMs === null ? '-' : `${m.qosTargetMs} ms`;
    console.log(
      `${m.name.padEnd(16)}${`${mega(m.published.parameters)} params`.padEnd(17)}` +
        `${`${giga(m.published.macs)}MACs`.padEnd(13)}QoS ${qos.padEnd(7)} ${m.description}`,
    );
  }
}

export function register(program: Command): void {
  const zoo = program.command('zoo').description('reference models with seeded random weights');
  zoo
    .command('build')
    .description('write a model repository: <out>/<model>/1/model.onnx and <out>/<model>/config.json')
    .option('--out <dir>', 'repository directory', 'models')
    .option('--models <list>', `comma-separated subset of: ${ZOO_MODEL_NAMES.join(', ')}`)
    .option('--seed <n>', 'weight generator seed (same seed, same bytes)', '1')
    .option('--seq-len <n>', 'BERT sequence length', '128')
    .option('--json', 'print one JSON document on stdout')
    .action((flags: BuildFlags) => runBuild(flags));
  zoo
    .command('list')
    .description('the reference models with their published size and QoS target')
    .option('--json', 'print one JSON document on stdout')
    .action((flags: { json?: boolean }) => runList(flags));
}
