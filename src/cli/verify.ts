import type { Command } from 'commander';
import { loadModel } from '../onnx/index.js';
import { parseGranularity } from '../partition/index.js';
import { verifyModel, type VerifyReport } from '../runtime/index.js';
import { parsePinnedValues, parseShapeOverrides } from '../partition/index.js';
import { VeltairError } from '../errors/index.js';
import { numberFlag, repeatable } from './flags.js';

interface VerifyFlags {
  json?: boolean;
  granularity: string;
  shape: string[];
  pin: string[];
  threads: string;
  seed: string;
}

function formatReport(r: VerifyReport): string {
  const lines = [
    `model:       ${r.model}`,
    `layers:      ${r.layers}`,
    `blocks:      ${r.blocks} (granularity ${r.granularity})`,
    ...r.specialized.map((t) => `pinned If:   ${t.node} takes its ${t.branch}`),
  ];
  for (const c of r.checks) {
    lines.push(
      `${`${c.cut} cut:`.padEnd(20)} max abs diff ${c.maxAbsDiff.toExponential(3)}, max rel diff ${c.maxRelDiff.toExponential(3)}`,
    );
    for (const o of c.outputs.filter((x) => !x.ok)) {
      lines.push(`  mismatch in ${o.name}: ${o.problem ?? `rel diff ${o.maxRelDiff.toExponential(3)}`}`);
    }
  }
  lines.push(`tolerance:   max abs diff <= ${r.tolerance.relTolerance} x each output's largest magnitude`);
  lines.push(r.ok ? 'OK: block by block equals whole' : 'MISMATCH: block by block differs from whole');
  return lines.join('\n');
}

async function runVerify(file: string, flags: VerifyFlags): Promise<void> {
  const granularity = parseGranularity(flags.granularity);
  const threads = numberFlag('--threads', flags.threads, 1, true);
  const seed = Number(flags.seed);
  if (!Number.isInteger(seed))
    throw new VeltairError('invalid_argument', `--seed must be an integer, got '${flags.seed}'`);
  const shapes = parseShapeOverrides(flags.shape);
  const pins = parsePinnedValues(flags.pin);
  let report: VerifyReport;
  try {
    const model = await loadModel(file);
    report = await verifyModel(model, file, {
      granularity,
      shapes,
      pins,
      seed,
      config: { threads, optimization: 'all', spinning: false },
    });
  } catch (err) {
    // --json callers still get one document; the one-line reason also goes to stderr.
    if (flags.json) console.log(JSON.stringify({ model: file, ok: false, error: (err as Error).message }));
    throw err;
  }
  console.log(flags.json ? JSON.stringify(report) : formatReport(report));
  if (!report.ok) process.exitCode = 1;
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('run a model block by block and whole on the same seeded inputs; exit 1 when they differ')
    .argument('<model>', 'path to an .onnx file')
    .option('--json', 'print one JSON document on stdout')
    .option('--granularity <g>', "blocks of 'layer', N layers, or 'whole'", 'layer')
    .option(
      '--shape <name:d1,d2,...>',
      'shape of an input with symbolic dims (repeatable; symbolic dims are 1 otherwise)',
      repeatable,
      [] as string[],
    )
    .option(
      '--pin <name=v1,v2,...>',
      "an input's values (repeatable): an If they decide is cut as the branch it takes",
      repeatable,
      [] as string[],
    )
    .option('--threads <n>', 'intra-op threads per session', '1')
    .option('--seed <n>', 'seed of the generated inputs', '1')
    .action(async (file: string, flags: VerifyFlags) => runVerify(file, flags));
}
