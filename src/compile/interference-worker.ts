/**
 * Body of one co-runner thread (see interference.ts). Two roles:
 * - `stream`: copies between two buffers larger than the last-level cache for `duty`
 *   permille of every 2 ms period and sleeps the rest: memory-bandwidth and LLC pressure;
 * - `probe`: runs the reference probe back to back and publishes each pass's time, so the
 *   main thread can observe how much pressure something else puts on the shared caches.
 */
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { CONTROL, PERIOD_MS, makeProbe, type WorkerData } from './interference-shared.js';

const data = workerData as WorkerData;
const control = new Int32Array(data.control);

function streamLoop(): void {
  if (data.cpus) pinSelf(data.cpus);
  const n = Math.floor(data.bufferBytes / 8);
  const src = new Float64Array(n).fill(1);
  const dst = new Float64Array(n).fill(0);
  Atomics.add(control, CONTROL.ready, 1);
  Atomics.notify(control, CONTROL.ready);
  const chunk = 32768;
  let offset = 0;
  while (Atomics.load(control, CONTROL.stop) === 0) {
    const duty = Atomics.load(control, CONTROL.duty);
    if (duty <= 0) {
      Atomics.wait(control, CONTROL.duty, duty, 50);
      continue;
    }
    const start = performance.now();
    const busyMs = (Math.min(duty, 1000) / 1000) * PERIOD_MS;
    while (performance.now() - start < busyMs) {
      dst.set(src.subarray(offset, offset + chunk), offset);
      offset = (offset + chunk) % n;
    }
    const restMs = PERIOD_MS - (performance.now() - start);
    if (restMs > 0.05) Atomics.wait(control, CONTROL.sleep, 0, restMs);
  }
}

function probeLoop(): void {
  if (data.cpus) pinSelf(data.cpus);
  const probe = makeProbe(data.bufferBytes);
  probe();
  const times = new Float64Array(data.results!);
  Atomics.add(control, CONTROL.ready, 1);
  Atomics.notify(control, CONTROL.ready);
  while (Atomics.load(control, CONTROL.stop) === 0) {
    // Probes only while asked to (duty 1): an idle probe thread must not take a core.
    if (Atomics.load(control, CONTROL.duty) === 0) {
      Atomics.wait(control, CONTROL.duty, 0, 50);
      continue;
    }
    const ms = probe();
    const k = Atomics.load(control, CONTROL.count);
    times[k % times.length] = ms;
    Atomics.store(control, CONTROL.count, k + 1);
  }
}

/**
 * Pins this thread to `cpus`: left to itself the OS now and then puts a co-runner on the
 * measured version's core, where it time-shares instead of loading the caches, and runs look
 * up to 2x slower. Pinned, the version's threads are the ones the OS moves away. Best effort:
 * without taskset (util-linux) the thread stays unpinned. /proc/thread-self names this thread.
 */
function pinSelf(cpus: string): void {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? '';
    spawnSync('taskset', ['-p', '-c', cpus, tid], { stdio: 'ignore' });
  } catch {
    // Not Linux, or no /proc: unpinned.
  }
}

if (data.role === 'stream') streamLoop();
else probeLoop();
