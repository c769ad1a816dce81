import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  OrtMeasurer,
  compileModel,
  findModels,
  formatSummary,
  generatorThreadsFor,
  raiseMeasurementPriority,
  readRawCompile,
  assembleProfile,
  stageEffects,
  eliminateStages,
  type EliminationRound,
  summarize,
  usableCores,
  type CompileProgress,
  type CompileResult,
  type HeldOutError,
} from '../compile/index.js';
import { basename, dirname } from 'node:path';
import { loadModel } from '../onnx/index.js';
import { parsePinnedValues, pinnedTensors } from '../partition/index.js';
import { readModelSettings } from '../server/index.js';
import { repeatable } from './flags.js';
import { VeltairError, isVeltairError } from '../errors/index.js';
import { writeFile } from 'node:fs/promises';

interface CompileFlags {
  quick?: boolean;
  json?: boolean;
  force?: boolean;
  seed: string;
  priority?: boolean;
  pin: string[];
  keepRaw?: boolean;
  replay?: boolean;
  out?: string;
}

export function register(program: Command): void {
  program
    .command('compile')
    .description(
      'build (or reuse) the profiles of a model or of every model in a repository: versions per layer, ' +
        'solo latency per core count, slowdown under calibrated interference, prediction quality',
    )
    .argument('<paths...>', 'MODEL.onnx or model repositories (<repo>/<model>/<version>/model.onnx)')
    .option('--quick', 'few repetitions and two interference levels (tests, demos)')
    .option('--json', 'print one JSON document on stdout')
    .option('--force', 'rebuild even when a matching profile exists')
    .option('--seed <n>', 'seed of the held-out block choice', '1')
    .option('--keep-raw', 'keep the raw measurements beside each profile (<profile>.raw.json), for --replay')
    .option(
      '--replay',
      "<path> is a compile's raw measurements: rebuild its profile offline and print each " +
        "correction stage's effect on the held-out error",
    )
    .option('--out <file>', 'with --replay: write the rebuilt profile here')
    .option('--no-priority', 'do not raise the measuring process priority (nice -10, where allowed)')
    .option(
      '--pin <name=v1,v2,...>',
      "an input's values (repeatable; a repository model's config.json inputValues apply too): " +
        'an If they decide is compiled as the branch it takes',
      repeatable,
      [] as string[],
    )
    .action(async (paths: string[], flags: CompileFlags) => {
      const seed = Number(flags.seed);
      if (!Number.isInteger(seed))
        throw new VeltairError('invalid_argument', `--seed must be an integer, got '${flags.seed}'`);
      if (flags.replay) await runReplay(paths, flags);
      else await runCompile(paths, flags, seed);
    });
}

async function runCompile(paths: readonly string[], flags: CompileFlags, seed: number): Promise<void> {
  const started = performance.now();
  const models = (await Promise.all(paths.map((path) => findModels(path)))).flat();
  const flagPins = parsePinnedValues(flags.pin);
  if (flags.priority !== false) raiseMeasurementPriority();
  const measurer = new OrtMeasurer(generatorThreadsFor(usableCores()));
  const progress = makeProgress(!flags.json && Boolean(process.stderr.isTTY));
  const results: CompileResult[] = [];
  try {
    for (const modelPath of models) {
      const result = await compileModel(modelPath, {
        mode: flags.quick ? 'quick' : 'full',
        force: flags.force,
        measurer,
        seed,
        onProgress: progress.update,
        pins: await pinsFor(modelPath, flagPins),
        keepRaw: flags.keepRaw,
      });
      progress.finish(result);
      results.push(result);
      if (!flags.json)
        for (const line of formatSummary(summarize(result.profile), result.reused)) console.log(line);
    }
  } finally {
    progress.stop();
    await measurer.close();
  }
  const totalMs = Math.round(performance.now() - started);
  if (flags.json) {
    const out = results.map((r) => ({
      ...summarize(r.profile),
      path: r.profilePath,
      reused: r.reused,
      rebuiltBecause: r.rebuiltBecause,
      resumedLayers: r.resumedLayers,
      ...(r.rawPath ? { rawPath: r.rawPath } : {}),
    }));
    console.log(
      JSON.stringify({ machine: measurer.machine, ortVersion: measurer.ortVersion, models: out, totalMs }),
    );
  } else {
    console.log(
      `compiled ${results.length} model${results.length === 1 ? '' : 's'} in ${(totalMs / 1000).toFixed(1)} s`,
    );
  }
}

/**
 * The pinned inputs of `modelPath` as tensors: its repository config's `inputValues`, then the
 * `--pin` flags, which win.
 */
async function pinsFor(modelPath: string, flagPins: ReadonlyMap<string, number[]>) {
  const inRepository = basename(modelPath) === 'model.onnx';
  const configured = inRepository
    ? (await readModelSettings(dirname(dirname(modelPath)))).inputValues
    : new Map();
  const values = new Map([...configured, ...flagPins]);
  if (values.size === 0) return undefined;
  try {
    return pinnedTensors(await loadModel(modelPath), values);
  } catch (err) {
    throw isVeltairError(err) ? new VeltairError(err.code, `${modelPath}: ${err.message}`) : err;
  }
}

interface Progress {
  update(p: CompileProgress): void;
  finish(r: CompileResult): void;
  stop(): void;
}

/** A bar with ETA on a terminal; otherwise a plain line per phase and per 10% (on stderr). */
function makeProgress(tty: boolean): Progress {
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: '{model} [{bar}] {percentage}% | {phase} | ETA {eta_formatted}',
        etaBuffer: 20,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    let current = '';
    return {
      update(p) {
        if (p.model !== current) {
          if (current) bar.stop();
          current = p.model;
          bar.start(p.total, p.done, { model: p.model, phase: p.phase });
        } else {
          bar.update(p.done, { phase: p.phase });
        }
      },
      finish() {
        if (current) bar.stop();
        current = '';
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastPhase = '';
  let lastDecile = -1;
  return {
    update(p) {
      const decile = Math.floor((p.done / p.total) * 10);
      if (p.phase === lastPhase && decile === lastDecile) return;
      lastPhase = p.phase;
      lastDecile = decile;
      console.error(`${p.model}: ${p.phase} ${p.done}/${p.total}`);
    },
    finish(r) {
      lastPhase = '';
      lastDecile = -1;
      if (r.reused) console.error(`${r.model}: profile matches (model, machine, ORT): reused`);
      else console.error(`${r.model}: built (${r.rebuiltBecause ?? 'new'}) -> ${r.profilePath}`);
    },
    stop() {},
  };
}

async function runReplay(rawPaths: readonly string[], flags: CompileFlags): Promise<void> {
  const raws = await Promise.all(rawPaths.map((path) => readRawCompile(path)));
  if (flags.out) {
    if (raws.length !== 1) throw new VeltairError('invalid_argument', '--out takes one raw file to replay');
    await writeFile(flags.out, JSON.stringify(assembleProfile(raws[0])));
  }
  const perModel = raws.map((raw) => ({ model: raw.model, mode: raw.settings.mode, ...stageEffects([raw]) }));
  const pooled = raws.length > 1 ? { ...stageEffects(raws), elimination: eliminateStages(raws) } : undefined;
  if (flags.json) {
    console.log(JSON.stringify({ models: perModel, pooled, profilePath: flags.out }));
    return;
  }
  for (const [k, raw] of raws.entries()) {
    const samples = raw.quality?.samples.length ?? 0;
    console.log(
      `${raw.model}: ${raw.settings.mode} compile, ${raw.layers.length} layers, ` +
        `${raw.coarse.length} coarse blocks, ${samples} held-out samples`,
    );
    for (const line of formatStageEffects(perModel[k])) console.log(line);
  }
  if (pooled) {
    console.log(`all ${raws.length} compiles, held-out samples pooled`);
    for (const line of formatStageEffects(pooled)) console.log(line);
    for (const line of formatElimination(pooled.elimination)) console.log(line);
  }
  if (flags.out) console.log(`profile written to ${flags.out}`);
}

/** The stage table: held-out error with the stages up to each one, and with all but it. */
function formatStageEffects(effects: ReturnType<typeof stageEffects>): string[] {
  const cell = (e: HeldOutError) =>
    [e.alone, e.interfered]
      .map((s) => `${s.medianPct.toFixed(1)}/${s.p90Pct.toFixed(1)}`.padStart(11))
      .join(' ');
  return [
    `  held-out error, median/p90 %: alone, interfered`,
    `  ${'stage'.padEnd(16)} ${'up to it'.padEnd(23)}   ${'all but it'.padEnd(23)}`,
    `  ${'(measurements)'.padEnd(16)} ${cell(effects.base)}`,
    ...effects.stages.map((s) => `  ${s.stage.padEnd(16)} ${cell(s.cumulative)}   ${cell(s.without)}`),
  ];
}

/** Each round of the backward elimination: the score, each stage's gain, what goes. */
function formatElimination(rounds: readonly EliminationRound[]): string[] {
  return rounds.flatMap((round, k) => [
    `  round ${k + 1}: score ${round.score.toFixed(1)} with ${round.stages.join(', ')}`,
    `    gain of each (score without it - score): ` +
      round.without.map((w) => `${w.stage} ${(w.score - round.score).toFixed(1)}`).join(', '),
    `    ${round.removed ? `removes ${round.removed}` : 'every stage earns its place'}`,
  ]);
}
