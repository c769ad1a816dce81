#!/usr/bin/env node
// Launcher: sets up the process before any veltair code runs.
//
// - V8's parallel garbage collector runs on background threads that veltair's core ledger
//   cannot see; block-by-block execution frees many large tensors, and those threads then
//   compete with ORT for the very cores veltair allocates (ResNet-50 per layer, 1 thread:
//   ~58 ms of CPU per inference with parallel GC vs ~40 ms single-threaded; whole model 36 ms).
//   Each block's outputs come back as fresh ArrayBuffers (onnxruntime-node copies them out
//   even into preallocated fetches), and that external memory is what drives V8's collections.
//   Incremental marking then spends more in its many small steps than one atomic mark of
//   veltair's small heap costs (ResNet-50, 1 thread, median over whole model: per-layer blocks
//   1.14-1.26 with it, 1.13 without; coarse 1.06-1.08 vs 1.05).
//   Flags must be given at start-up, so the launcher re-executes node with them once.
// - glibc malloc keeps freed memory for reuse instead of handing large buffers back to the
//   OS (no mmap per buffer, no trimming; decision 0005). Every block output is a fresh
//   multi-MiB buffer, and with glibc's defaults each one could land on fresh pages: the same
//   MobileNetV2 block ran 1100 us until the first GC and 575 us after, or 520 us for good
//   (230 us with these settings) depending on what ran before, which made profiles depend on
//   the order layers were measured in. RSS stays at its high-water mark instead.
// - onnxruntime-node 1.30 runs a session synchronously on the calling thread (inside a
//   setImmediate), so ORT's compute threads are only its own intra-op pools, which veltair
//   sizes per session. libuv's pool still serves file and crypto work: size it to the cores.
import os from 'node:os';
import { spawn } from 'node:child_process';

const V8_FLAGS = ['--single-threaded-gc', '--no-incremental-marking'];
const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296';

/** The user's GLIBC_TUNABLES with ours added, unless they set malloc's themselves. */
function glibcTunables(current = '') {
  if (current.includes('glibc.malloc.')) return current;
  return current ? `${current}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES;
}

const configured =
  V8_FLAGS.every((flag) => process.execArgv.includes(flag)) &&
  process.env.GLIBC_TUNABLES === glibcTunables(process.env.GLIBC_TUNABLES);

if (!configured) {
  const flags = V8_FLAGS.filter((flag) => !process.execArgv.includes(flag));
  const child = spawn(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: glibcTunables(process.env.GLIBC_TUNABLES) },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1);
  });
} else {
  if (!process.env.UV_THREADPOOL_SIZE) {
    process.env.UV_THREADPOOL_SIZE = String(Math.max(4, os.availableParallelism()));
  }
  const { main } = await import('../dist/cli/index.js');
  process.exitCode = await main(process.argv);
}
