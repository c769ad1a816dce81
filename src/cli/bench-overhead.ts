import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { loadModel, type ModelProto } from '../onnx/index.js';
import { measureOverhead, type OverheadReport, type OverheadRow } from '../runtime/index.js';
import { ZOO_MODEL_NAMES, buildZooModel, isZooModelName } from '../zoo/index.js';
import { VeltairError } from '../errors/index.js';
import { numberFlag } from './flags.js';

interface BenchFlags {
  models?: string;
  threads: string;
  runs: string;
  warmup: string;
  coarseBlocks: string;
  json?: boolean;
}

function intList(flag: string, text: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new VeltairError(
      'invalid_argument',
      `${flag} must be a comma-separated list of positive integers, got '${text}'`,
    );
  }
  return values;
}

/** Zoo names are built in memory; anything ending in .onnx is read from disk. */
async function loadModels(text: string | undefined): Promise<{ name: string; model: ModelProto }[]> {
  const names =
    text === undefined
      ? [...ZOO_MODEL_NAMES]
      : text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const bad = names.filter((n) => !isZooModelName(n) && !n.endsWith('.onnx'));
  if (bad.length > 0 || names.length === 0) {
    throw new VeltairError(
      'invalid_argument',
      `unknown model(s) ${bad.join(', ') || '(none given)'}; give zoo names (${ZOO_MODEL_NAMES.join(', ')}) or .onnx paths`,
    );
  }
  const models: { name: string; model: ModelProto }[] = [];
  for (const name of names) {
    models.push({ name, model: isZooModelName(name) ? buildZooModel(name).model : await loadModel(name) });
  }
  return models;
}

const ms = (x: number) => x.toFixed(2).padStart(9);
const ratio = (x: number) => x.toFixed(3).padStart(7);

function formatTable(report: OverheadReport): string {
  const width = Math.max(18, ...report.rows.map((r) => r.model.length + 2));
  const head = `${'model'.padEnd(width)}${'thr'.padStart(4)} ${'variant'.padEnd(7)}${'blocks'.padStart(7)}${'median ms'.padStart(10)}${'p99 ms'.padStart(10)}${'x med'.padStart(8)}${'x p99'.padStart(8)}${'cpu ms'.padStart(9)}${'x cpu'.padStart(8)}`;
  const line = (r: OverheadRow) =>
    `${r.model.padEnd(width)}${String(r.threads).padStart(4)} ${r.variant.padEnd(7)}${String(r.blocks).padStart(7)} ${ms(r.medianMs)} ${ms(r.p99Ms)} ${ratio(r.medianRatio)} ${ratio(r.p99Ratio)} ${ms(r.cpuMedianMs).slice(1)} ${ratio(r.cpuRatio)}`;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `runs per variant: ${report.runs} (interleaved; ratios are over whole-model in the same cell)`,
    head,
    ...report.rows.map(line),
    `load average (1/5/15 min): start ${load(report.loadAverageStart)}, end ${load(report.loadAverageEnd)}`,
  ].join('\n');
}

async function runBench(flags: BenchFlags): Promise<void> {
  const threads = intList('--threads', flags.threads);
  const runs = numberFlag('--runs', flags.runs, 1, true);
  const warmupRuns = numberFlag('--warmup', flags.warmup, 0, true);
  const coarseBlocks = numberFlag('--coarse-blocks', flags.coarseBlocks, 1, true);
  const models = await loadModels(flags.models);
  const bar = process.stderr.isTTY
    ? new SingleBar(
        {
          format: 'bench-overhead {bar} {value}/{total} {model}',
          stream: process.stderr,
          clearOnComplete: true,
        },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(models.length * threads.length, 0, { model: models[0].name });
  try {
    const report = await measureOverhead(models, {
      runs,
      warmupRuns,
      threads,
      coarseBlocks,
      onCell: (model) => bar?.increment({ model }),
    });
    bar?.stop();
    console.log(flags.json ? JSON.stringify(report) : formatTable(report));
  } finally {
    bar?.stop();
  }
}

export function register(program: Command): void {
  program
    .command('bench-overhead')
    .description(
      'latency of whole-model vs block-by-block runs (per layer and ~8 blocks cut where least crosses), interleaved: median, p99, ratios',
    )
    .option('--models <a,b>', 'zoo model names or .onnx paths (default: every zoo model)')
    .option('--threads <1,2>', 'intra-op thread counts to measure', '1,2')
    .option('--runs <n>', 'timed runs per variant', '20')
    .option('--warmup <n>', 'untimed runs per variant first', '3')
    .option('--coarse-blocks <n>', 'blocks of the coarse plan', '8')
    .option('--json', 'print one JSON document on stdout')
    .action(async (flags: BenchFlags) => runBench(flags));
}
