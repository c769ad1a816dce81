#!/usr/bin/env node
// Launcher. onnxruntime-node 1.30 runs a session synchronously on the calling thread (inside a
// setImmediate), so ORT's compute threads are only its own intra-op pools, which veltair sizes
// per session. libuv's pool still serves file and crypto work: size it to the usable cores
// before anything starts it.
import os from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) {
  process.env.UV_THREADPOOL_SIZE = String(Math.max(4, os.availableParallelism()));
}
const { main } = await import('../dist/cli/index.js');
process.exitCode = await main(process.argv);
