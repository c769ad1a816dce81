/**
 * Worker-thread entry of `tuneInWorker`: chooses the parameters of the job it was started with.
 * A server tunes while it serves (after a load or unload, or once it knows what blocks cost in
 * operation): the thread stands with the block workers, below every ordinary thread, so that a
 * search of tens of seconds shares the CPUs with the blocks rather than preempting them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { yieldThisThread } from '../runtime/index.js';
import { tuneForLive, type LiveTuningJob } from './tuning.js';

yieldThisThread();
try {
  parentPort?.postMessage({ tuning: tuneForLive(workerData as LiveTuningJob) });
} catch (err) {
  parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
