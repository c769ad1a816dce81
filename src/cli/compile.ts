import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  OrtMeasurer,
  compileModel,
  findModels,
  formatSummary,
  generatorThreadsFor,
  raiseMeasurementPriority,
  summarize,
  usableCores,
  type CompileProgress,
  type CompileResult,
} from '../compile/index.js';
import { basename, dirname } from 'node:path';
import { loadModel } from '../onnx/index.js';
import { parsePinnedValues, pinnedTensors } from '../partition/index.js';
import { readModelSettings } from '../server/index.js';
import { repeatable } from './flags.js';
import { VeltairError, isVeltairError } from '../errors/index.js';

interface CompileFlags {
  quick?: boolean;
  json?: boolean;
  force?: boolean;
  seed: string;
  priority?: boolean;
  pin: string[];
}

export function register(program: Command): void {
  program
    .command('compile')
    .description(
      'build (or reuse) the profiles of a model or of every model in a repository: versions per layer, ' +
        'solo latency per core count, slowdown under calibrated interference, prediction quality',
    )
    .argument('<path>', 'MODEL.onnx or a model repository (<repo>/<model>/<version>/model.onnx)')
    .option('--quick', 'few repetitions and two interference levels (tests, demos)')
    .option('--json', 'print one JSON document on stdout')
    .option('--force', 'rebuild even when a matching profile exists')
    .option('--seed <n>', 'seed of the held-out block choice', '1')
    .option('--no-priority', 'do not raise the measuring process priority (nice -10, where allowed)')
    .option(
      '--pin <name=v1,v2,...>',
      "an input's values (repeatable; a repository model's config.json inputValues apply too): " +
        'an If they decide is compiled as the branch it takes',
      repeatable,
      [] as string[],
    )
    .action(async (path: string, flags: CompileFlags) => {
      const seed = Number(flags.seed);
      if (!Number.isInteger(seed))
        throw new VeltairError('invalid_argument', `--seed must be an integer, got '${flags.seed}'`);
      await runCompile(path, flags, seed);
    });
}

async function runCompile(path: string, flags: CompileFlags, seed: number): Promise<void> {
  const started = performance.now();
  const models = await findModels(path);
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
