import { Command, CommanderError } from 'commander';
import { ERROR_CODES, asVeltairError, type ErrorClass, type ErrorCode } from '../errors/index.js';
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
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) })
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

function errorLine(code: ErrorCode, message: string): string {
  return `veltair: ${code}: ${message}`;
}

/** Commander's "error: ..." as the CLI's line for the code `usage`. */
function usageLine(text: string): string {
  return `${errorLine('usage', text.replace(/^error: /, '').trimEnd())}\n`;
}

/**
 * The exit status of each error class: 2 when the caller asked for something wrong or absent
 * (as for a command line that does not parse), 1 for everything else.
 */
export const EXIT_STATUS: Readonly<Record<ErrorClass, number>> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 2,
  FAILED_PRECONDITION: 1,
  RESOURCE_EXHAUSTED: 1,
  UNAVAILABLE: 1,
  INTERNAL: 1,
};

/** Prints one line `veltair: <code>: <message>` and returns the exit status, never a stack trace. */
function reportError(err: unknown): number {
  // Commander has printed its usage error already (through `usageLine`), or the help asked for.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_STATUS[ERROR_CODES.usage.class];
  const coded = asVeltairError(err);
  console.error(errorLine(coded.code, coded.message));
  if (process.env.VELTAIR_DEBUG) console.error(err);
  return EXIT_STATUS[coded.errorClass];
}
