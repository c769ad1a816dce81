/** Worker-thread entry of `tuneInWorker`: chooses the parameters of the job it was started with. */
import { parentPort, workerData } from 'node:worker_threads';
import { tuneForLive, type LiveTuningJob } from './tuning.js';

try {
  parentPort?.postMessage({ tuning: tuneForLive(workerData as LiveTuningJob) });
} catch (err) {
  parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
