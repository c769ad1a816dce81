// What the launcher sets up before any veltair code runs, re-executing node once (V8 flags and
// glibc tunables take effect only at start-up); bin/veltair.js and the live benchmarks in
// bench/ start through it.
//
// - V8 GC single-threaded and non-incremental (decision 0004): its parallel helpers would run
//   on cores veltair's ledger allocates to ORT, and the fresh ArrayBuffer that every block
//   output becomes (onnxruntime-node copies outputs out) drives collections whose incremental
//   steps cost more than an atomic mark of veltair's small heap. The block executor frees
//   outputs it no longer needs at once with ES2024 ArrayBuffer.prototype.transfer, which node
//   20's V8 ships behind --harmony-rab-gsab-transfer (on by default from node 21). Without
//   incremental marking V8 would start a full collection only when an old-generation allocation
//   fails, so the live runtime starts them itself (src/runtime/heap-keeper.ts) through --expose-gc,
//   marked incrementally, at twice what the last kept; V8's own limit is fixed at four times
//   (--heap-growing-percent=300) so that its atomic collections do not come first.
// - glibc malloc keeps freed memory for reuse (decision 0005): with its defaults a multi-MiB
//   output could land on fresh pages every run, so the same block ran up to 2x slower
//   depending on what the process had run before, and profiles depended on measuring order.
//   It also asks for transparent huge pages (decision 0009): opening a session copies its
//   weights into fresh memory, and faulting that in 4 KiB at a time cost more than the runs
//   (VGG-19's FC layers measured in 31 s with 6.4 M page faults, 13 s with 0.08 M).
// - onnxruntime-node 1.30 runs a session synchronously on the calling thread (inside a
//   setImmediate), so ORT's compute threads are only its own intra-op pools, which veltair
//   sizes per session. libuv's pool still serves file and crypto work: size it to the cores.
import os from 'node:os';
import { spawn } from 'node:child_process';

const V8_FLAGS = [
  '--single-threaded-gc',
  '--no-incremental-marking',
  '--harmony-rab-gsab-transfer',
  '--expose-gc',
  '--heap-growing-percent=300',
];
const MALLOC_TUNABLES = [
  'glibc.malloc.mmap_threshold=33554432',
  'glibc.malloc.trim_threshold=4294967296',
  'glibc.malloc.hugetlb=1',
].join(':');

/** The user's GLIBC_TUNABLES with ours added, unless they set malloc's themselves. */
function glibcTunables(current = '') {
  if (current.includes('glibc.malloc.')) return current;
  return current ? `${current}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES;
}

/**
 * True when this process runs with the flags and tunables above (and libuv's pool sized to the
 * cores): the caller goes on. Otherwise it starts the same script again with them, passes
 * signals on and takes its exit code, and returns false: the caller does nothing more.
 */
export function launchedConfigured() {
  const configured =
    V8_FLAGS.every((flag) => process.execArgv.includes(flag)) &&
    process.env.GLIBC_TUNABLES === glibcTunables(process.env.GLIBC_TUNABLES);
  if (configured) {
    if (!process.env.UV_THREADPOOL_SIZE) {
      process.env.UV_THREADPOOL_SIZE = String(Math.max(4, os.availableParallelism()));
    }
    return true;
  }
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
  return false;
}
