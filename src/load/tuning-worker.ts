/**
 * Worker-thread entry of `tuneInWorker`: searches its slice of the job's grid. A server also
 * tunes while it serves (after a load or unload): the thread stands with the block workers,
 * below every ordinary thread, so that a search of tens of seconds shares the CPUs with the
 * blocks rather than preempting them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { yieldThisThread } from '../runtime/index.js';
import { searchForLive, type GridSlice, type LiveTuningJob } from './tuning.js';

yieldThisThread();
const { job, slice } = workerData as { job: LiveTuningJob; slice: GridSlice };
try {
  parentPort?.postMessage({ peaks: searchForLive(job, slice) });
} catch (err) {
  parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
