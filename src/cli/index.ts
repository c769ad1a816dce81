import { Command, CommanderError } from 'commander';
import { OnnxModelError } from '../onnx/index.js';
import { UsageError } from './errors.js';
import { register as registerCompile } from './compile.js';
import { register as registerVerify } from './verify.js';
import { register as registerBenchOverhead } from './bench-overhead.js';
import { register as registerZoo } from './zoo.js';
import { register as registerSimulate } from './simulate.js';
import { register as registerBench } from './bench.js';
import { register as registerServe } from './serve.js';
import { register as registerBenchServe } from './bench-serve.js';
import { register as registerSoak } from './soak.js';

/** Each command lives in its own file and registers itself here. */
const registrations: ((program: Command) => void)[] = [
  registerCompile,
  registerVerify,
  registerBenchOverhead,
  registerZoo,
  registerSimulate,
  registerBench,
  registerServe,
  registerBenchServe,
  registerSoak,
];

export function buildProgram(): Command {
  const program = new Command('veltair')
    .description(
      'Multi-tenant deep-learning inference on CPUs: adaptive layer blocks and adaptive compilation',
    )
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  for (const register of registrations) register(program);
  return program;
}

/** Runs the CLI; returns the exit code. Known errors print one line, never a stack trace. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed help or the usage error.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof UsageError) {
    console.error(`veltair: ${err.message}`);
    return 2;
  }
  if (err instanceof OnnxModelError) {
    console.error(`veltair: error: ${err.message}`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(`veltair: error: ${message.split('\n')[0]}`);
  if (process.env.VELTAIR_DEBUG) console.error(err);
  return 1;
}
