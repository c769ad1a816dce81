#!/usr/bin/env node
// Launcher: the process set up as bin/launch.js explains, then the CLI.
import { launchedConfigured } from './launch.js';

if (launchedConfigured()) {
  const { main } = await import('../dist/cli/index.js');
  process.exitCode = await main(process.argv);
}
