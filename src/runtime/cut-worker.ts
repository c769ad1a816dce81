/**
 * The thread `ServedModel.load` cuts a model on: loading, extracting and encoding every unit
 * takes the engine's thread about half a second for GoogLeNet, during which it could not serve.
 * It stands with the block workers, below every ordinary thread (`yieldThisThread`): a model
 * loaded while serving shares the CPUs with the blocks running rather than preempting them.
 * Unit bytes and warm-up inputs come back in shared memory (see `shared`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { yieldThisThread } from './affinity.js';
import { ServedModel, type CutReply, type CutRequest } from './served.js';

const request = workerData as CutRequest;
yieldThisThread();
let reply: CutReply;
try {
  reply = { parts: await ServedModel.cut(request.source, request.opts) };
} catch (err) {
  reply = { error: err instanceof Error ? err.message : String(err) };
}
parentPort?.postMessage(reply);
