/** Worker-thread entry of the comparison's pool: runs each task it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { runTask, type ComparisonTask } from './parallel.js';

const port = parentPort;
port?.on('message', ({ id, task }: { id: number; task: ComparisonTask }) => {
  try {
    port.postMessage({ id, result: runTask(task) });
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
