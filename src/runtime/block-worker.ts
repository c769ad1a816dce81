/**
 * A block worker: one thread, pinned to one CPU, holding ORT sessions and running chains of
 * them on request. onnxruntime-node runs a session synchronously on the calling thread, so
 * blocks that run at the same time need threads of their own; a block on several CPUs runs
 * here, with its session's pool threads pinned to the others (SessionConfig.poolCpus).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { freeTensorMemory } from '../onnx/index.js';
import { currentCpu, pinThisThread, threadAllowedCpus, yieldThisThread } from './affinity.js';
import type { ChainStep, FromWorker, SessionSpec, ToWorker, WorkerSetup } from './protocol.js';
import { openSession, ortReason } from '../partition/index.js';
import { fromWire, owned, toWire, transferList, type WireTensors } from './wire.js';
import { VeltairError } from '../errors/index.js';

const setup = workerData as WorkerSetup;
const port = parentPort;
const sessions = new Map<string, ort.InferenceSession>();
/** Sessions asked for and not open yet: a run that needs one opens it first. */
const asked = new Map<string, SessionSpec>();

function reply(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

async function sessionFor(spec: SessionSpec): Promise<ort.InferenceSession> {
  const open = sessions.get(spec.key);
  if (open) return open;
  const session = await openSession(owned(spec.bytes), spec.config, spec.source);
  const feeds = Object.fromEntries(Object.entries(spec.warmup).map(([n, w]) => [n, fromWire(owned(w))]));
  for (const value of Object.values(await session.run(feeds))) freeTensorMemory(value as ort.Tensor);
  sessions.set(spec.key, session);
  asked.delete(spec.key);
  return session;
}

/**
 * Opens sessions one at a time, and between two of them handles the messages that arrived
 * meanwhile: a block sent here while this worker opens what the engine did not open ahead
 * (`LiveRuntime.ensureSessions`) waits for one session's opening at most, not for all of them.
 */
async function open(id: number, specs: readonly SessionSpec[]): Promise<void> {
  for (const spec of specs) if (!sessions.has(spec.key)) asked.set(spec.key, spec);
  try {
    for (const spec of specs) {
      await sessionFor(spec);
      for (let next = port && receiveMessageOnPort(port); next; next = port && receiveMessageOnPort(port)) {
        await handle(next.message as ToWorker);
      }
    }
  } finally {
    for (const spec of specs) asked.delete(spec.key);
  }
  reply({ kind: 'opened', id, sessions: sessions.size });
}

async function run(id: number, steps: readonly ChainStep[], feeds: WireTensors, returns: readonly string[]) {
  const live = new Map<string, ort.Tensor>();
  for (const [name, w] of Object.entries(feeds)) live.set(name, fromWire(w));
  const startEpochMs = performance.timeOrigin + performance.now();
  const stepUs: number[] = [];
  for (const step of steps) {
    const spec = asked.get(step.session);
    const session = sessions.get(step.session) ?? (spec && (await sessionFor(spec)));
    if (!session) throw new Error(`no session ${step.session} on this worker`);
    const stepFeeds: Record<string, ort.Tensor> = {};
    for (const name of step.inputs) {
      const value = live.get(name);
      if (!value) throw new Error(`${step.session} needs '${name}', which the chain does not hold`);
      stepFeeds[name] = value;
    }
    let results: ort.InferenceSession.ReturnType;
    const t0 = performance.now();
    try {
      results = await session.run(stepFeeds);
    } catch (err) {
      throw new VeltairError('runtime_error', `${step.session} failed: ${ortReason(err)}`);
    }
    stepUs.push((performance.now() - t0) * 1000);
    for (const [name, value] of Object.entries(results)) live.set(name, value as ort.Tensor);
    for (const name of step.release) {
      const value = live.get(name);
      live.delete(name);
      if (value) freeTensorMemory(value);
    }
  }
  const endEpochMs = performance.timeOrigin + performance.now();
  const outputs: WireTensors = {};
  for (const name of returns) {
    const value = live.get(name);
    if (!value) throw new Error(`the chain did not produce '${name}'`);
    outputs[name] = toWire(value);
  }
  const cpu = setup.reportCpu ? currentCpu() : undefined;
  reply(
    { kind: 'done', id, outputs, startEpochMs, endEpochMs, stepUs, cpu },
    transferList(Object.values(outputs)),
  );
}

async function close(id: number, prefix: string): Promise<void> {
  for (const key of [...asked.keys()]) if (key.startsWith(prefix)) asked.delete(key);
  for (const [key, session] of [...sessions]) {
    if (!key.startsWith(prefix)) continue;
    sessions.delete(key);
    await session.release();
  }
  reply({ kind: 'closed', id, sessions: sessions.size });
}

async function handle(message: ToWorker): Promise<void> {
  if (message.kind === 'exit') {
    for (const s of sessions.values()) await s.release();
    sessions.clear();
    port?.close();
    return;
  }
  try {
    if (message.kind === 'open') await open(message.id, message.sessions);
    else if (message.kind === 'run') await run(message.id, message.steps, message.feeds, message.returns);
    else await close(message.id, message.prefix);
  } catch (err) {
    reply({ kind: 'error', id: message.id, error: err instanceof Error ? err.message : String(err) });
  }
}

if (port) {
  if (setup.cpu !== undefined) pinThisThread([setup.cpu]);
  // The engine's own thread (generator, decisions, messages) shares these CPUs: below it, a
  // block's threads yield to it at once instead of making every decision wait for a time slice.
  const priority = setup.yieldToEngine ? yieldThisThread() : 'unchanged';
  reply({ kind: 'ready', allowedCpus: threadAllowedCpus(), priority });
  // One message at a time: a chain runs to its end before the next message is looked at. A
  // worker sleeps between blocks rather than polling for the next: a polling worker kept the
  // engine's thread, woken onto its CPU, from the very completion it waited for (decision 0011).
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    queue = queue.then(() => handle(m));
  });
}
