import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = new URL('../../bin/veltair.js', import.meta.url).pathname;

/** What a CLI run left behind: exit code and both streams. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `veltair` launcher (as users do) with `args`; a failing exit is a result, not a throw. */
export async function veltair(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
