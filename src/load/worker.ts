/** Worker-thread entry of runComparisonJobs: one workload's comparison. */
import { parentPort, workerData } from 'node:worker_threads';
import { runComparisonJob, type ComparisonJob } from './parallel.js';

const port = parentPort;
if (port) {
  try {
    const report = runComparisonJob(workerData as ComparisonJob, () =>
      port.postMessage({ kind: 'progress' }),
    );
    port.postMessage({ kind: 'done', report });
  } catch (err) {
    port.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}
