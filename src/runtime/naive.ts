/**
 * `naive`: what most deployments do today. One ONNX Runtime session per model with ORT's
 * defaults (intra-op threads = every core, idle threads spinning), each query run as soon as it
 * arrives, all of them at once, the OS scheduling every thread. onnxruntime-node runs a session
 * on the calling thread, so queries that run at the same time need threads of their own: a pool
 * of unpinned worker threads, each holding one default session per model (node cannot share a
 * session between threads), up to `maxConcurrent` queries at once; more wait in FIFO order.
 */
import type * as ort from 'onnxruntime-node';
import { WallClock } from '../engine/index.js';
import { encodeModel, loadModel } from '../onnx/index.js';
import { seededInputs, withFastLrn } from '../partition/index.js';
import { BlockWorker } from './pool.js';
import type { SessionSpec } from './protocol.js';
import type { ModelInput } from './served.js';
import { ORT_DEFAULTS } from '../partition/index.js';
import type { InferenceService, InferOutcome, QueryTiming } from './service.js';
import { fromWire, toWire } from './wire.js';
import { VeltairError } from '../errors/index.js';

/** A model as the naive baseline serves it: its file and the tensors it takes and gives. */
export interface NaiveModel {
  readonly name: string;
  readonly path: string;
  readonly inputs: readonly ModelInput[];
  readonly outputs: readonly string[];
}

export interface NaiveOptions {
  readonly models: readonly NaiveModel[];
  readonly qosTargetMs: Readonly<Record<string, number>>;
  /** Queries running at once at most, each on a worker thread of its own. */
  readonly maxConcurrent: number;
}

interface Waiting {
  model: string;
  feeds: Readonly<Record<string, ort.Tensor>>;
  arrivalMs: number;
  resolve: (o: InferOutcome) => void;
}

/** The key a worker holds a model's default session under (model names have no `#`). */
const sessionKey = (model: string) => `${model}#`;

export class NaiveService implements InferenceService {
  readonly takesFeeds = true;
  readonly clock = new WallClock();
  private readonly queue: Waiting[] = [];
  private inside = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly models = new Map<string, NaiveModel & { qosTargetMs: number }>();

  private constructor(
    private readonly free: BlockWorker[],
    private readonly workers: readonly BlockWorker[],
  ) {}

  /** Starts `maxConcurrent` unpinned workers, each opening every model with ORT's defaults. */
  static async start(opts: NaiveOptions): Promise<NaiveService> {
    const workers = await Promise.all(
      Array.from({ length: opts.maxConcurrent }, () => BlockWorker.start({ reportCpu: false })),
    );
    const service = new NaiveService([...workers], workers);
    for (const m of opts.models) await service.addModel(m, opts.qosTargetMs[m.name] ?? Infinity);
    return service;
  }

  /** Serves one more model: every worker opens it with ORT's defaults. */
  async addModel(m: NaiveModel, qosTargetMs: number): Promise<void> {
    const model = await withFastLrn(await loadModel(m.path), m.path);
    const warmup = Object.fromEntries(Object.entries(seededInputs(model)).map(([n, t]) => [n, toWire(t)]));
    const spec: SessionSpec = {
      key: sessionKey(m.name),
      bytes: encodeModel(model),
      config: ORT_DEFAULTS,
      warmup,
      source: m.path,
    };
    await Promise.all(this.workers.map((w) => w.open([spec])));
    this.models.set(m.name, { ...m, qosTargetMs });
  }

  /** Stops serving `name` (none of its queries may be inside) and releases its sessions. */
  async removeModel(name: string): Promise<void> {
    this.models.delete(name);
    await Promise.all(
      this.workers.map((w) => w.ask((id) => ({ kind: 'close', id, prefix: sessionKey(name) }))),
    );
  }

  inputsOf(model: string): readonly ModelInput[] {
    const m = this.models.get(model);
    if (!m) throw new VeltairError('unknown_model', `model '${model}' is not served`);
    return m.inputs;
  }

  /** Runs the query as soon as a thread is free; like ORT by default, it knows no deadline. */
  infer(
    model: string,
    feeds: Readonly<Record<string, ort.Tensor>>,
    timing: QueryTiming = {},
  ): Promise<InferOutcome> {
    this.inputsOf(model);
    this.inside++;
    return new Promise((resolve) => {
      this.queue.push({ model, feeds, arrivalMs: timing.arrivalMs ?? this.clock.nowMs(), resolve });
      this.pump();
    });
  }

  abortWaiting(): void {
    for (const w of this.queue.splice(0)) {
      this.done(w, { status: 'rejected', reason: 'aborted', latencyMs: this.clock.nowMs() - w.arrivalMs });
    }
  }

  idle(): Promise<void> {
    if (this.inside === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.abortWaiting();
    await this.idle();
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.free.length > 0) {
      const q = this.queue.shift() as Waiting;
      const worker = this.free.pop() as BlockWorker;
      const m = this.models.get(q.model);
      const wire = Object.fromEntries(Object.entries(q.feeds).map(([n, t]) => [n, toWire(t)]));
      const chain = {
        steps: [{ session: sessionKey(q.model), inputs: Object.keys(wire), release: [] }],
        returns: m?.outputs ?? [],
      };
      worker.run(chain, wire, (r) => {
        this.free.push(worker);
        const latencyMs = this.clock.nowMs() - q.arrivalMs;
        if (r instanceof Error) this.done(q, { status: 'failed', error: r.message, latencyMs });
        else {
          const outputs = Object.fromEntries(Object.entries(r.outputs).map(([n, w]) => [n, fromWire(w)]));
          const satisfied = latencyMs <= (m?.qosTargetMs ?? Infinity);
          const queueMs = this.clock.fromEpochMs(r.startEpochMs) - q.arrivalMs;
          this.done(q, { status: 'ok', outputs, latencyMs, queueMs, satisfied });
        }
        this.pump();
      });
    }
  }

  private done(q: Waiting, outcome: InferOutcome): void {
    q.resolve(outcome);
    this.inside--;
    if (this.inside === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
