/**
 * The pool of block workers, one per CPU, on the main thread's side: opens sessions on them,
 * sends them chains to run, and hands back what they answer.
 */
import { Worker } from 'node:worker_threads';
import type { YieldedPriority } from './affinity.js';
import type { ChainStep, FromWorker, SessionSpec, ToWorker, WorkerSetup } from './protocol.js';
import { transferList, type WireTensors } from './wire.js';

/** What a finished chain reports. */
export interface ChainResult {
  readonly outputs: WireTensors;
  readonly startEpochMs: number;
  readonly endEpochMs: number;
  readonly stepUs: readonly number[];
  readonly cpu?: number;
}

type Pending = { resolve: (m: FromWorker) => void };

/** One block worker thread, seen from the main thread. */
export class BlockWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  allowedCpus: readonly number[] = [];
  priority: YieldedPriority = 'unchanged';

  private constructor(
    readonly cpu: number | undefined,
    private readonly worker: Worker,
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.kind === 'ready') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const [id, p] of this.pending) p.resolve({ kind: 'error', id, error: err.message });
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) =>
      fail(new Error(`block worker for CPU ${cpu ?? '-'} exited with code ${code}`)),
    );
  }

  static start(setup: WorkerSetup): Promise<BlockWorker> {
    const worker = new Worker(new URL('./block-worker.js', import.meta.url), { workerData: setup });
    return new Promise((resolve, reject) => {
      worker.once('message', (m: FromWorker) => {
        if (m.kind !== 'ready') return reject(new Error(`block worker sent ${m.kind} before ready`));
        const w = new BlockWorker(setup.cpu, worker);
        w.allowedCpus = m.allowedCpus;
        w.priority = m.priority;
        resolve(w);
      });
      worker.once('error', reject);
    });
  }

  /** Sends a request and calls `onReply` with the answer (an `error` message when it failed). */
  request(
    message: (id: number) => Exclude<ToWorker, { kind: 'exit' }>,
    onReply: (m: FromWorker) => void,
    transfer: ArrayBuffer[] = [],
  ): void {
    const id = this.nextId++;
    if (this.failure) {
      onReply({ kind: 'error', id, error: this.failure.message });
      return;
    }
    this.pending.set(id, { resolve: onReply });
    this.worker.postMessage(message(id), transfer);
  }

  ask(message: (id: number) => Exclude<ToWorker, { kind: 'exit' }>): Promise<FromWorker> {
    return new Promise((resolve) => this.request(message, resolve));
  }

  /** Opens sessions on this worker; resolves with how many it holds. */
  async open(sessions: readonly SessionSpec[]): Promise<number> {
    const m = await this.ask((id) => ({ kind: 'open', id, sessions }));
    if (m.kind === 'error') throw new Error(m.error);
    return m.kind === 'opened' ? m.sessions : 0;
  }

  /** Runs a chain here; the feeds' buffers are transferred. `onDone` gets the result or the error. */
  run(
    chain: { steps: readonly ChainStep[]; returns: readonly string[] },
    feeds: WireTensors,
    onDone: (result: ChainResult | Error) => void,
  ): void {
    this.request(
      (id) => ({ kind: 'run', id, steps: chain.steps, returns: chain.returns, feeds }),
      (m) => {
        if (m.kind === 'done') onDone(m);
        else onDone(new Error(m.kind === 'error' ? m.error : `unexpected ${m.kind} for a run`));
      },
      transferList(Object.values(feeds)),
    );
  }

  async stop(): Promise<void> {
    if (this.failure) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ kind: 'exit' } satisfies ToWorker);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    await this.worker.terminate();
  }
}

export class WorkerPool {
  private constructor(private readonly workers: ReadonlyMap<number, BlockWorker>) {}

  /**
   * Starts one worker per CPU, pinned to it when `pin` is set. The workers report the CPUs
   * they may run on after pinning (`allowedCpus`).
   */
  static async start(
    cpus: readonly number[],
    opts: { pin: boolean; reportCpu?: boolean; yieldToEngine?: boolean },
  ): Promise<WorkerPool> {
    const workers = await Promise.all(
      cpus.map((cpu) =>
        BlockWorker.start({
          cpu: opts.pin ? cpu : undefined,
          reportCpu: opts.reportCpu ?? false,
          yieldToEngine: opts.yieldToEngine,
        }),
      ),
    );
    return new WorkerPool(new Map(cpus.map((cpu, k) => [cpu, workers[k]])));
  }

  get cpus(): number[] {
    return [...this.workers.keys()];
  }

  /** Whether every worker ended up allowed on exactly its own CPU. */
  get pinned(): boolean {
    return [...this.workers].every(([cpu, w]) => w.allowedCpus.length === 1 && w.allowedCpus[0] === cpu);
  }

  /** Where the workers' threads stand toward the engine's: the least any of them got. */
  get priority(): YieldedPriority {
    const got = new Set([...this.workers.values()].map((w) => w.priority));
    return got.has('unchanged') ? 'unchanged' : got.has('nice') ? 'nice' : 'idle';
  }

  private worker(cpu: number): BlockWorker {
    const w = this.workers.get(cpu);
    if (!w) throw new Error(`no block worker for CPU ${cpu}`);
    return w;
  }

  /** Opens sessions on the worker of `cpu` (those it already holds are kept). */
  open(cpu: number, sessions: readonly SessionSpec[]): Promise<number> {
    return this.worker(cpu).open(sessions);
  }

  /** Releases the sessions whose key starts with `prefix` on every worker; how many each still holds. */
  async close(prefix: string): Promise<Map<number, number>> {
    const held = await Promise.all(
      [...this.workers].map(async ([cpu, w]) => {
        const m = await w.ask((id) => ({ kind: 'close', id, prefix }));
        return [cpu, m.kind === 'closed' ? m.sessions : 0] as const;
      }),
    );
    return new Map(held);
  }

  /**
   * Runs a chain of sessions on the worker of `cpu`; the feeds' buffers are transferred (the
   * caller no longer holds them). `onDone` gets the result or the error.
   */
  run(
    cpu: number,
    chain: { steps: readonly ChainStep[]; returns: readonly string[] },
    feeds: WireTensors,
    onDone: (result: ChainResult | Error) => void,
  ): void {
    this.worker(cpu).run(chain, feeds, onDone);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
  }
}
