#!/usr/bin/env node
// Launcher: size libuv's pool to the usable cores before any pool starts (ORT's async run
// executes there), then hand over to the compiled CLI.
import os from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) {
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, os.availableParallelism()));
}
const { main } = await import('../dist/cli/index.js');
process.exitCode = await main(process.argv);
