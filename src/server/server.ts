/**
 * `veltair serve`: the Open Inference Protocol (KServe v2) over HTTP on the live engine, with
 * Triton's binary tensor, system shared memory, model repository and statistics extensions, and
 * Prometheus metrics.
 *
 * One process serves every model of a repository on this machine's CPUs. Each request becomes a
 * query of the live engine with its model's deadline (or a tighter one the request asks for);
 * a request that cannot be served gets a status and `{"error": ...}` at once and touches no
 * other tenant.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type * as ort from 'onnxruntime-node';
import { processCpus, type InferOutcome, type InferenceService } from '../runtime/index.js';
import type { EndReason } from '../engine/index.js';
import type { PolicyParams } from '../sched/index.js';
import { Backend, type Tenant } from './backend.js';
import { HTTP_STATUS } from './errors.js';
import { startGrpc, type GrpcEndpoint } from './grpc.js';
import { ServerMetrics } from './metrics.js';
import {
  isModelName,
  modelFolders,
  readRepositoryModel,
  scanRepository,
  unreadModel,
  type RepositoryModel,
} from './repository.js';
import { DATATYPES } from '../load/index.js';
import { ORT_ELEMENT_BYTES } from '../onnx/index.js';
import { SharedMemoryRegistry, type SharedMemoryPlace } from './shared-memory.js';
import {
  BinaryCursor,
  encodeOutput,
  outputBytes,
  parseInputs,
  type EncodedOutput,
  type OutputForm,
  type TensorMetadata,
} from './tensors.js';
import { VeltairError, asVeltairError, isVeltairError, type ErrorCode } from '../errors/index.js';

export const SERVER_NAME = 'veltair';
export const SERVER_VERSION = '0.1.0';
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'statistics', 'schedule_policy'];

export { NAIVE_POLICY } from './backend.js';

export interface ServerOptions {
  readonly repository: string;
  /** Serve only these models of the repository (default: every one). */
  readonly models?: readonly string[];
  /** A registered policy, or `naive` (default `veltair`). */
  readonly policy?: string;
  /**
   * The policy's parameters (its defaults where a name is missing); unset: chosen on the
   * simulator for the models served, at start and after each load or unload.
   */
  readonly policyParams?: PolicyParams;
  /**
   * Blocks between looks at what they cost in operation, to plan the units at (default
   * `OPERATING_BLOCKS`; 0: plan as measured at start). Decision 0017.
   */
  readonly operatingBlocks?: number;
  /** Each model's expected share of the load, over its `config.json` `weight`. */
  readonly weights?: Readonly<Record<string, number>>;
  readonly host?: string;
  /** 0: any free port. */
  readonly httpPort?: number;
  /** The gRPC service's port (0: any free port; unset: no gRPC). */
  readonly grpcPort?: number;
  readonly cpus?: readonly number[];
  /**
   * Whether clients may register system shared memory regions, through which the server then
   * reads inputs and writes outputs (Triton's `--allow-client-shm`; default false).
   */
  readonly allowClientShm?: boolean;
  /** Largest request body (bytes); larger ones get 413. Default 64 MiB. */
  readonly bodyLimitBytes?: number;
  readonly onProgress?: (message: string) => void;
}

/** An inference request in the protocol's terms, decoded from HTTP or gRPC. */
export interface DecodedRequest {
  readonly id?: unknown;
  /** As in the protocol's JSON: name, shape, datatype, `data` or `parameters.binary_data_size`. */
  readonly inputs: unknown;
  /** Requested outputs (name, `parameters.binary_data` or a shared memory place); all when absent. */
  readonly outputs?: unknown;
  /** `timeout`, `priority`, `binary_data_output`. */
  readonly parameters?: unknown;
  /** The tensors sent as bytes, in input order. */
  readonly binary: BinaryCursor;
}

/** What an answered request returns, in input-independent terms. */
export interface Answer {
  readonly model: RepositoryModel;
  readonly id?: string;
  /** Each requested output and how it was asked for (one asked for in shared memory is there already). */
  readonly outputs: readonly { name: string; tensor: ort.Tensor; form: OutputForm }[];
}

/** Counters of Triton's statistics extension, per model (durations in ns). */
interface ModelStatistics {
  lastInferenceMs: number;
  inferenceCount: number;
  executionCount: number;
  success: { count: number; ns: number };
  fail: { count: number; ns: number };
  queue: { count: number; ns: number };
  compute: { count: number; ns: number };
}

const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;
/** Seconds a rejected caller is told to wait before trying again. */
const RETRY_AFTER_S = 1;
/** `priority: 1` (the highest) asks for an answer within this share of the model's QoS target. */
const HIGH_PRIORITY_SHARE = 0.5;

export class VeltairServer {
  private readonly inflight = new Map<string, number>();
  /** Who waits for a model's last request to end (an unload). */
  private readonly drainWaiters = new Map<string, (() => void)[]>();
  private readonly statistics = new Map<string, ModelStatistics>();
  private readonly metrics: ServerMetrics;
  /** Loads and unloads, one at a time. */
  private repositoryChanges: Promise<unknown> = Promise.resolve();
  private draining = false;
  private closing: Promise<void> | undefined;
  /** When each HTTP request's headers arrived (engine ms). */
  private readonly receivedMs = new WeakMap<object, number>();
  private grpc: GrpcEndpoint | undefined;
  readonly sharedMemory: SharedMemoryRegistry;
  readonly app: FastifyInstance;

  private constructor(
    private readonly opts: ServerOptions,
    /** Every model the server has read (served or not), by name. */
    private readonly models: Map<string, RepositoryModel>,
    private readonly backend: Backend,
  ) {
    this.metrics = new ServerMetrics({
      models: () => [...this.models.keys()],
      queueDepth: (m) => this.inflight.get(m) ?? 0,
      cpusBusy: () => this.backend.engine?.busyCpus ?? 0,
      interference: () => this.backend.engine?.interference ?? 0,
      sessions: () => this.backend.runtime.report.sessions,
      threads: () => this.backend.runtime.pool.cpus.length,
      cpus: () => this.backend.runtime.pool.cpus,
      policy: () => ({ name: this.opts.policy ?? 'veltair', params: this.backend.policyParams }),
      unitScale: () => this.backend.operatingCost?.scale ?? new Map(),
    });
    this.sharedMemory = new SharedMemoryRegistry(opts.allowClientShm ?? false);
    this.app = this.routes();
  }

  /** Reads the repository, starts the live engine on the models that can be served, and listens. */
  static async start(opts: ServerOptions): Promise<VeltairServer> {
    const progress = opts.onProgress ?? (() => {});
    const cpus = opts.cpus ?? processCpus();
    const scanned = await scanRepository(opts.repository, cpus.length, opts.models);
    const ready = scanned.filter((m) => m.state === 'READY');
    for (const m of scanned.filter((x) => x.state !== 'READY'))
      progress(`${m.name}: unavailable: ${m.reason}`);
    if (ready.length === 0) throw new Error(`no model of ${opts.repository} can be served`);
    const backend = await Backend.start({
      policy: opts.policy ?? 'veltair',
      params: opts.policyParams ?? 'tuned',
      cpus,
      tenants: ready.map((m) => tenantOf(m, opts.weights)),
      operatingBlocks: opts.operatingBlocks,
      onProgress: progress,
    });
    for (const failed of backend.runtime.report.unavailable) {
      const m = scanned.find((x) => x.name === failed.name);
      if (m) Object.assign(m, { state: 'UNAVAILABLE', reason: failed.reason });
    }
    const server = new VeltairServer(opts, new Map(scanned.map((m) => [m.name, m])), backend);
    try {
      const host = opts.host ?? '127.0.0.1';
      await server.app.listen({ host, port: opts.httpPort ?? 8000 });
      if (opts.grpcPort !== undefined) {
        server.grpc = await startGrpc(server, host, opts.grpcPort, opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT);
      }
      return server;
    } catch (err) {
      await server.app.close();
      await backend.close();
      throw err;
    }
  }

  private get service(): InferenceService {
    return this.backend.service;
  }

  /** QoS target per served model (ms). */
  get qosTargetMs(): Readonly<Record<string, number>> {
    return this.backend.qosTargetMs;
  }

  /** The policy's parameters now, as `k=v k=v` (empty for `naive`). */
  get policyParams(): string {
    return this.backend.policyParams;
  }

  /** `http://host:port` the server listens on. */
  get url(): string {
    const address = this.app.server.address();
    if (!address || typeof address === 'string') throw new Error('the server is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** The port of the gRPC service, if it runs. */
  get grpcPort(): number | undefined {
    return this.grpc?.port;
  }

  /** Taking requests (false once shutting down). */
  get ready(): boolean {
    return !this.draining;
  }

  serverMetadata() {
    const extensions = this.sharedMemory.allowed ? [...EXTENSIONS, 'system_shared_memory'] : EXTENSIONS;
    return { name: SERVER_NAME, version: SERVER_VERSION, extensions };
  }

  /** Stops taking requests, answers those inside, then releases the engine and its workers. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      await this.repositoryChanges;
      await this.service.idle();
      await this.grpc?.close();
      await this.app.close();
      await this.backend.close();
      this.sharedMemory.close();
    })();
    return this.closing;
  }

  private routes(): FastifyInstance {
    const app = Fastify({ bodyLimit: this.opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT, logger: false });
    // Bodies arrive as bytes: a JSON request and a binary-tensor one are told apart by a header,
    // and malformed JSON gets this server's error, not the framework's.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    // A request arrives with its headers: reading a body of megabytes is part of its latency, and
    // a `timeout` counts from when the client sent it, before the body.
    app.addHook('onRequest', async (req) => {
      this.receivedMs.set(req.raw, this.service.clock.nowMs());
    });
    app.setErrorHandler((err, _req, reply) => this.sendError(reply, fromFastify(err)));
    app.setNotFoundHandler((req, reply) =>
      this.sendError(reply, new VeltairError('no_route', `no route ${req.method} ${req.url}`)),
    );

    app.get('/v2/health/live', async () => ({ live: true }));
    app.get('/v2/health/ready', async (_req, reply) => {
      const ready = !this.draining;
      return reply.code(ready ? 200 : 503).send({ ready });
    });
    app.get('/v2', async () => this.serverMetadata());

    type ModelParams = { model: string; version?: string };
    const modelRoutes = (suffix: string) => [
      `/v2/models/:model${suffix}`,
      `/v2/models/:model/versions/:version${suffix}`,
    ];
    for (const url of modelRoutes('')) {
      app.get<{ Params: ModelParams }>(url, async (req) => this.metadata(this.lookup(req.params)));
    }
    for (const url of modelRoutes('/ready')) {
      app.get<{ Params: ModelParams }>(url, async (req, reply) => {
        const m = this.lookup(req.params);
        const ready = m.state === 'READY' && !this.draining;
        return reply.code(ready ? 200 : 503).send({ name: m.name, ready });
      });
    }
    for (const url of modelRoutes('/infer')) {
      app.post<{ Params: ModelParams }>(url, (req, reply) => this.infer(req, reply));
    }
    for (const url of modelRoutes('/stats')) {
      app.get<{ Params: ModelParams }>(url, async (req) => ({
        model_stats: [this.statisticsOf(this.lookup(req.params))],
      }));
    }
    app.get('/v2/models/stats', async () => ({
      model_stats: [...this.models.values()]
        .filter((m) => m.state === 'READY')
        .map((m) => this.statisticsOf(m)),
    }));
    app.post('/v2/repository/index', async (req) => this.repositoryIndex(readyOnly(req.body)));
    type RepositoryParams = { model: string };
    app.post<{ Params: RepositoryParams }>('/v2/repository/models/:model/load', async (req) => {
      await this.load(req.params.model);
      return {};
    });
    app.post<{ Params: RepositoryParams }>('/v2/repository/models/:model/unload', async (req) => {
      await this.unload(req.params.model);
      return {};
    });
    type RegionParams = { region?: string };
    for (const url of ['/v2/systemsharedmemory/status', '/v2/systemsharedmemory/region/:region/status']) {
      app.get<{ Params: RegionParams }>(url, async (req) => this.sharedMemory.status(req.params.region));
    }
    app.post<{ Params: { region: string } }>(
      '/v2/systemsharedmemory/region/:region/register',
      async (req) => {
        this.sharedMemory.register(req.params.region, parseJson(bodyOf(req.body)));
        return {};
      },
    );
    for (const url of [
      '/v2/systemsharedmemory/unregister',
      '/v2/systemsharedmemory/region/:region/unregister',
    ]) {
      app.post<{ Params: RegionParams }>(url, async (req) => {
        this.sharedMemory.unregister(req.params.region);
        return {};
      });
    }
    app.get('/metrics', async (_req, reply) =>
      reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
    );
    return app;
  }

  /**
   * Every model folder of the repository and every model served: name, version, state (`READY`,
   * `LOADING`, `UNLOADING`, `UNAVAILABLE`) and why it is not ready.
   */
  async repositoryIndex(readyOnly = false) {
    const folders = await modelFolders(this.opts.repository).catch(() => []);
    const names = [...new Set([...folders, ...this.models.keys()])].sort();
    const index = names.map((name) => {
      const m = this.models.get(name) ?? unreadModel(name, 'UNAVAILABLE', 'not loaded');
      return { name, version: m.version, state: m.state, reason: m.reason };
    });
    return readyOnly ? index.filter((m) => m.state === 'READY') : index;
  }

  /**
   * Loads `name` from the repository (the extension's load): reads its folder again, then cuts,
   * opens and measures it while the other models are served. A model already served is
   * reloaded: its requests are answered, then it is read again (requests meanwhile get 503).
   */
  load(name: string): Promise<void> {
    return this.changeRepository(name, async () => {
      if (!(await this.hasFolder(name))) {
        throw new VeltairError('unknown_model', `the repository has no model '${name}'`);
      }
      const current = this.models.get(name);
      if (current?.state === 'READY') await this.stopServing(current);
      this.models.set(name, unreadModel(name, 'LOADING'));
      const m = await readRepositoryModel(this.opts.repository, name, this.backend.runtime.pool.cpus.length);
      if (m.state === 'READY') {
        await this.backend.add(tenantOf(m, this.opts.weights)).catch((err: Error) => {
          Object.assign(m, { state: 'UNAVAILABLE', reason: err.message });
        });
      }
      this.models.set(name, m);
      if (m.state !== 'READY') {
        throw new VeltairError('load_failed', `model '${name}' cannot be served: ${m.reason}`);
      }
    });
  }

  /**
   * Stops serving `name` (the extension's unload): new requests get 400 at once, those inside
   * are answered, then its sessions are released. Unloading a model not served does nothing.
   */
  unload(name: string): Promise<void> {
    return this.changeRepository(name, async () => {
      const m = this.models.get(name);
      if (m?.state === 'READY') return this.stopServing(m);
      if (!m && !(await this.hasFolder(name))) {
        throw new VeltairError('unknown_model', `unknown model '${name}'`);
      }
    });
  }

  /** Whether the repository has a folder for model `name`. */
  private async hasFolder(name: string): Promise<boolean> {
    const folder = await stat(join(this.opts.repository, name)).catch(() => undefined);
    return folder?.isDirectory() ?? false;
  }

  private changeRepository(name: string, change: () => Promise<void>): Promise<void> {
    if (!isModelName(name)) {
      throw new VeltairError(
        'invalid_model_name',
        `'${name}' is not a model name (letters, digits, _, . and -)`,
      );
    }
    if (this.draining)
      throw new VeltairError('shutting_down', 'the server is shutting down', { retryAfterS: RETRY_AFTER_S });
    const run = this.repositoryChanges.then(change);
    this.repositoryChanges = run.catch(() => {});
    return run;
  }

  private async stopServing(m: RepositoryModel): Promise<void> {
    Object.assign(m, { state: 'UNLOADING', reason: 'unloading' });
    if ((this.inflight.get(m.name) ?? 0) > 0) {
      await new Promise<void>((resolve) => {
        const waiters = this.drainWaiters.get(m.name) ?? [];
        waiters.push(resolve);
        this.drainWaiters.set(m.name, waiters);
      });
    }
    await this.backend.remove(m.name);
    Object.assign(m, { state: 'UNAVAILABLE', reason: 'unloaded' });
  }

  lookup(params: { model: string; version?: string }): RepositoryModel {
    const m = this.models.get(params.model);
    if (!m) throw new VeltairError('unknown_model', `unknown model '${params.model}'`);
    if (params.version !== undefined && params.version !== m.version) {
      throw new VeltairError(
        'unknown_version',
        `model '${m.name}' has no version '${params.version}' (serving version ${m.version || 'none'})`,
      );
    }
    return m;
  }

  metadata(m: RepositoryModel) {
    return {
      name: m.name,
      versions: m.version ? [m.version] : [],
      platform: 'onnxruntime_onnx',
      inputs: m.inputs,
      outputs: m.outputs,
      parameters: {
        state: m.state,
        ...(m.reason ? { reason: m.reason } : {}),
        qos_target_ms: m.state === 'READY' ? this.qosTargetMs[m.name] : null,
        max_queue: m.settings.maxQueue,
        // A model nobody compiled here is served whole, its latency measured at start.
        profile: m.profile,
        ...(m.settings.inputValues.size > 0
          ? { pinned_inputs: Object.fromEntries(m.settings.inputValues) }
          : {}),
      },
    };
  }

  private async infer(
    req: FastifyRequest<{ Params: { model: string; version?: string } }>,
    reply: FastifyReply,
  ) {
    const answer = await this.serve(req.params, () => parseRequest(req), this.receivedMs.get(req.raw));
    const encoded = answer.outputs.map((o) => encodeOutput(o.name, o.tensor, o.form));
    const header = {
      model_name: answer.model.name,
      model_version: answer.model.version,
      ...(answer.id !== undefined ? { id: answer.id } : {}),
      outputs: encoded.map((e) => e.json),
    };
    return sendBody(reply, header, encoded);
  }

  /**
   * One inference request, whatever its transport: `decode` turns its body into the protocol's
   * fields (it runs after the cheap checks, and its failures count as invalid requests).
   * `arrivalMs` is when the request arrived (engine ms; now, where the transport cannot say).
   */
  async serve(
    target: { model: string; version?: string },
    decode: () => DecodedRequest,
    arrivalMs = this.service.clock.nowMs(),
  ): Promise<Answer> {
    const m = this.lookup(target);
    this.metrics.requests.inc({ model: m.name });
    if (m.state === 'LOADING') {
      throw new VeltairError('model_loading', `model '${m.name}' is loading`, { retryAfterS: RETRY_AFTER_S });
    }
    if (m.state !== 'READY') {
      throw new VeltairError('model_unavailable', `model '${m.name}' is not ready: ${m.reason}`);
    }
    if (this.draining) {
      this.reject(m.name, 'shutting_down');
      throw new VeltairError('shutting_down', 'the server is shutting down', { retryAfterS: RETRY_AFTER_S });
    }
    let request: DecodedRequest;
    let feeds: Record<string, ort.Tensor>;
    let deadlineMs: number | undefined;
    let wanted: ReadonlyMap<string, OutputForm>;
    try {
      request = decode();
      feeds = parseInputs(m.name, m.inputs, request.inputs, {
        binary: request.binary,
        sharedMemory: this.sharedMemory,
      });
      checkPinned(m, feeds);
      wanted = requestedOutputs(m, request, this.sharedMemory);
      deadlineMs = this.deadlineOf(m.name, arrivalMs, request.parameters);
    } catch (err) {
      this.metrics.failures.inc({ model: m.name, reason: 'invalid' });
      this.countFailure(m.name, arrivalMs);
      throw err;
    }
    this.admit(m, arrivalMs, deadlineMs);
    const depth = this.inflight.get(m.name) ?? 0;
    this.inflight.set(m.name, depth + 1);
    let outcome: InferOutcome;
    try {
      outcome = await this.service.infer(m.name, feeds, { arrivalMs, deadlineMs });
    } finally {
      this.requestEnded(m.name);
    }
    this.observeLateness(
      m.name,
      Math.min(deadlineMs ?? Infinity, arrivalMs + this.qosTargetMs[m.name]),
      outcome,
    );
    const answered = this.answeredOf(m, outcome, arrivalMs);
    const outputs = answered.outputs;
    try {
      for (const [name, form] of wanted) {
        if (form.place)
          this.sharedMemory.write(form.place, outputBytes(name, outputs[name]), `output '${name}'`);
      }
    } catch (err) {
      this.countFailed(m.name, 'output', arrivalMs);
      throw err;
    }
    this.countAnswered(m.name, answered);
    return {
      model: m,
      id: typeof request.id === 'string' ? request.id : undefined,
      outputs: [...wanted].map(([name, form]) => ({ name, tensor: outputs[name], form })),
    };
  }

  private requestEnded(model: string): void {
    const depth = (this.inflight.get(model) ?? 1) - 1;
    this.inflight.set(model, depth);
    if (depth === 0) for (const resolve of this.drainWaiters.get(model)?.splice(0) ?? []) resolve();
  }

  /**
   * How long after `deadlineMs` the engine gave its outcome; how much of that the block running
   * at the deadline does not excuse; and how far it went past the server's promise, the deadline
   * plus the longest block the request could have been running (decision 0014). A service
   * without blocks excuses nothing.
   */
  private observeLateness(model: string, deadlineMs: number, outcome: InferOutcome): void {
    const lateMs = this.service.clock.nowMs() - deadlineMs;
    if (lateMs <= 0) return;
    const m = this.metrics;
    m.lateSeconds.observe({ model }, lateMs / 1000);
    m.worstLateSeconds = Math.max(m.worstLateSeconds, lateMs / 1000);
    const beyondBlockMs = lateMs - (outcome.blockOverrunMs ?? 0);
    m.worstLateBeyondBlockSeconds = Math.max(m.worstLateBeyondBlockSeconds, beyondBlockMs / 1000);
    const beyondLongestMs = lateMs - (outcome.longestBlockMs ?? 0);
    m.worstLateBeyondLongestBlockSeconds = Math.max(
      m.worstLateBeyondLongestBlockSeconds,
      beyondLongestMs / 1000,
    );
  }

  /** Turns away at once what cannot meet its deadline even alone, and what finds its queue full. */
  private admit(m: RepositoryModel, arrivalMs: number, deadlineMs: number | undefined): void {
    const fastestMs = this.backend.fastestMs(m.name);
    const leftMs =
      Math.min(deadlineMs ?? Infinity, arrivalMs + this.qosTargetMs[m.name]) - this.service.clock.nowMs();
    if (leftMs < fastestMs) {
      this.reject(m.name, 'deadline_unreachable');
      throw new VeltairError(
        'deadline_unreachable',
        `model '${m.name}' takes at least ${fastestMs.toFixed(2)} ms, ${Math.max(0, leftMs).toFixed(2)} ms are left before the deadline`,
        { retryAfterS: RETRY_AFTER_S },
      );
    }
    const depth = this.inflight.get(m.name) ?? 0;
    if (depth >= m.settings.maxQueue) {
      this.reject(m.name, 'queue_full');
      throw new VeltairError(
        'queue_full',
        `model '${m.name}' has ${depth} requests waiting or running, its limit`,
        { retryAfterS: RETRY_AFTER_S },
      );
    }
  }

  /** The request's deadline when tighter than the model's: its `timeout` (us) or a high `priority`. */
  private deadlineOf(model: string, arrivalMs: number, parameters: unknown): number | undefined {
    if (parameters === undefined) return undefined;
    if (typeof parameters !== 'object' || parameters === null) {
      throw new VeltairError('invalid_request', "'parameters' must be an object");
    }
    const { timeout, priority } = parameters as { timeout?: unknown; priority?: unknown };
    let deadline = Infinity;
    if (timeout !== undefined) {
      if (!Number.isSafeInteger(timeout) || (timeout as number) <= 0) {
        throw new VeltairError('invalid_parameter', "'timeout' must be a positive integer of microseconds");
      }
      deadline = arrivalMs + (timeout as number) / 1000;
    }
    if (priority !== undefined) {
      if (!Number.isSafeInteger(priority) || (priority as number) < 0) {
        throw new VeltairError('invalid_parameter', "'priority' must be a non-negative integer");
      }
      if (priority === 1)
        deadline = Math.min(deadline, arrivalMs + HIGH_PRIORITY_SHARE * this.qosTargetMs[model]);
    }
    return Number.isFinite(deadline) ? deadline : undefined;
  }

  /** The outcome of a query the engine answered; a rejection or a failure is counted and thrown. */
  private answeredOf(m: RepositoryModel, outcome: InferOutcome, arrivalMs: number): Answered {
    this.statsOf(m.name).lastInferenceMs = Date.now();
    if (outcome.status === 'rejected') {
      const code = REJECTION_CODE[outcome.reason];
      this.reject(m.name, code);
      throw new VeltairError(
        code,
        `model '${m.name}': ${REJECTION_TEXT[outcome.reason] ?? outcome.reason} after ${outcome.latencyMs.toFixed(1)} ms`,
        { retryAfterS: RETRY_AFTER_S },
      );
    }
    if (outcome.status === 'failed') {
      this.countFailed(m.name, 'runtime', arrivalMs);
      throw new VeltairError('runtime_error', `model '${m.name}' failed: ${outcome.error}`);
    }
    return outcome;
  }

  /** A query whose answer reached its caller. */
  private countAnswered(model: string, outcome: Answered): void {
    const labels = { model };
    this.metrics.successes.inc(labels);
    this.metrics.qos.inc({ ...labels, result: outcome.satisfied ? 'satisfied' : 'missed' });
    const queueMs = outcome.queueMs ?? 0;
    this.metrics.queueSeconds.observe(labels, queueMs / 1000);
    this.metrics.computeSeconds.observe(labels, (outcome.latencyMs - queueMs) / 1000);
    this.metrics.requestSeconds.observe(labels, outcome.latencyMs / 1000);
    const stats = this.statsOf(model);
    stats.inferenceCount++;
    stats.executionCount++;
    add(stats.success, outcome.latencyMs);
    add(stats.queue, queueMs);
    add(stats.compute, outcome.latencyMs - queueMs);
  }

  /** A query that ran and failed: at run time, or writing its outputs where the request asked. */
  private countFailed(model: string, reason: 'runtime' | 'output', arrivalMs: number): void {
    this.metrics.failures.inc({ model, reason });
    this.metrics.qos.inc({ model, result: 'missed' });
    this.countFailure(model, arrivalMs);
  }

  private reject(model: string, reason: string): void {
    this.metrics.rejections.inc({ model, reason });
    this.metrics.qos.inc({ model, result: 'missed' });
  }

  private countFailure(model: string, arrivalMs: number): void {
    add(this.statsOf(model).fail, this.service.clock.nowMs() - arrivalMs);
  }

  private statsOf(model: string): ModelStatistics {
    let s = this.statistics.get(model);
    if (!s) {
      const zero = () => ({ count: 0, ns: 0 });
      s = {
        lastInferenceMs: 0,
        inferenceCount: 0,
        executionCount: 0,
        success: zero(),
        fail: zero(),
        queue: zero(),
        compute: zero(),
      };
      this.statistics.set(model, s);
    }
    return s;
  }

  /** Triton's statistics extension's record of one model. */
  private statisticsOf(m: RepositoryModel) {
    const s = this.statsOf(m.name);
    return {
      name: m.name,
      version: m.version,
      last_inference: s.lastInferenceMs,
      inference_count: s.inferenceCount,
      execution_count: s.executionCount,
      inference_stats: {
        success: s.success,
        fail: s.fail,
        queue: s.queue,
        compute_input: { count: 0, ns: 0 },
        compute_infer: s.compute,
        compute_output: { count: 0, ns: 0 },
      },
    };
  }

  private sendError(reply: FastifyReply, err: VeltairError) {
    if (err.retryAfterS !== undefined) void reply.header('Retry-After', String(err.retryAfterS));
    const status = HTTP_STATUS[err.errorClass];
    return reply.code(status).type('application/json').send({ error: err.message, code: err.code });
  }
}

/** The error a rejected query answers with, by the engine's reason for ending it. */
const REJECTION_CODE: Readonly<Record<EndReason, ErrorCode>> = {
  deadline_unreachable: 'deadline_unreachable',
  queue_full: 'queue_full',
  expired: 'expired',
  aborted: 'shutting_down',
  failed: 'runtime_error',
};

const REJECTION_TEXT: Readonly<Record<string, string>> = {
  deadline_unreachable: 'rejected, it could not meet its deadline',
  expired: 'it waited until it could no longer meet its deadline',
  aborted: 'aborted (the server is shutting down)',
};

function add(counter: { count: number; ns: number }, ms: number): void {
  counter.count++;
  counter.ns += Math.round(ms * 1e6);
}

/** The request's JSON header and the binary tensors after it (Triton's binary extension). */
function parseRequest(req: FastifyRequest): DecodedRequest {
  const body = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new VeltairError('invalid_request', 'the request has no body (an inference request is JSON)');
  }
  const headerLength = req.headers['inference-header-content-length'];
  let jsonBytes: Buffer = body;
  let rest: Uint8Array = new Uint8Array(0);
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!Number.isSafeInteger(n) || n <= 0 || n > body.length) {
      throw new VeltairError(
        'invalid_binary',
        `Inference-Header-Content-Length ${String(headerLength)} does not fit a body of ${body.length} bytes`,
      );
    }
    jsonBytes = body.subarray(0, n);
    rest = body.subarray(n);
  }
  const json = parseJson(jsonBytes);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new VeltairError('invalid_request', 'an inference request is a JSON object');
  }
  const fields = json as Record<string, unknown>;
  return {
    id: fields.id,
    inputs: fields.inputs,
    outputs: fields.outputs,
    parameters: fields.parameters,
    binary: new BinaryCursor(rest),
  };
}

/** Which outputs to return, and how: as binary data, or in shared memory (all outputs by default). */
function requestedOutputs(
  m: RepositoryModel,
  json: DecodedRequest,
  sharedMemory: SharedMemoryRegistry,
): Map<string, OutputForm> {
  const parameters = (json.parameters ?? {}) as { binary_data_output?: unknown };
  const allBinary = parameters.binary_data_output === true;
  if (json.outputs === undefined) return new Map(m.outputs.map((o) => [o.name, { binary: allBinary }]));
  if (!Array.isArray(json.outputs)) throw new VeltairError('invalid_request', "'outputs' must be an array");
  const forms = new Map<string, OutputForm>();
  for (const raw of json.outputs as unknown[]) {
    const o = raw as { name?: unknown; parameters?: { binary_data?: unknown } };
    if (typeof o?.name !== 'string')
      throw new VeltairError('invalid_request', "a requested output has no 'name'");
    if (!m.outputs.some((x) => x.name === o.name)) {
      throw new VeltairError(
        'unknown_output',
        `model '${m.name}' has no output '${o.name}' (outputs: ${m.outputs.map((x) => x.name).join(', ')})`,
      );
    }
    const place = sharedMemory.placeOf(`output '${o.name}'`, o.parameters);
    if (place) checkOutputFits(m.outputs.find((x) => x.name === o.name) as TensorMetadata, place);
    forms.set(o.name, {
      binary: o.parameters?.binary_data === undefined ? allBinary : o.parameters.binary_data === true,
      place,
    });
  }
  return forms;
}

/** An output of a fixed shape that cannot fit its place is refused before the query runs. */
function checkOutputFits(spec: TensorMetadata, place: SharedMemoryPlace): void {
  const width = ORT_ELEMENT_BYTES[DATATYPES[spec.datatype]];
  if (width === undefined || spec.shape.some((d) => d < 0)) return;
  const bytes = width * spec.shape.reduce((a, b) => a * b, 1);
  if (bytes <= place.byteSize) return;
  throw new VeltairError(
    'invalid_shared_memory',
    `output '${spec.name}': its ${bytes} bytes do not fit the ${place.byteSize} bytes given in region '${place.region}'`,
  );
}

function sendBody(reply: FastifyReply, header: object, encoded: readonly EncodedOutput[]) {
  const parts = encoded.filter((e) => e.binary).map((e) => e.binary as Uint8Array);
  if (parts.length === 0) return reply.type('application/json').send(header);
  const json = Buffer.from(JSON.stringify(header));
  return reply
    .header('Inference-Header-Content-Length', String(json.length))
    .type('application/octet-stream')
    .send(Buffer.concat([json, ...parts]));
}

/** A query the engine answered with outputs. */
type Answered = Extract<InferOutcome, { status: 'ok' }>;

/** Fastify's own errors (body limit, content type) in the server's codes; anything else stays as coded. */
function fromFastify(err: unknown): VeltairError {
  if (isVeltairError(err)) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new VeltairError('body_too_large', e.message ?? 'body too large');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new VeltairError('invalid_request', e.message ?? 'bad request');
  }
  return asVeltairError(err);
}

/** A pinned input must carry its pinned values: the model is served as the branches they take. */
function checkPinned(m: RepositoryModel, feeds: Readonly<Record<string, ort.Tensor>>): void {
  for (const [name, values] of m.settings.inputValues) {
    const sent = Array.from(feeds[name].data as ArrayLike<number | bigint>, Number);
    const same = (v: number, k: number) => v === values[k] || v === Math.fround(values[k]);
    if (sent.length === values.length && sent.every(same)) continue;
    throw new VeltairError(
      'pinned_input',
      `model '${m.name}' is served with input '${name}' = [${values.join(', ')}] only (its config.json inputValues), got [${sent.slice(0, 8).join(', ')}${sent.length > 8 ? ', ...' : ''}]`,
    );
  }
}

/** What the backend needs of a readable repository model. */
function tenantOf(m: RepositoryModel, weights: Readonly<Record<string, number>> = {}): Tenant {
  if (!m.spec) throw new Error(`model '${m.name}' was not read`);
  return { spec: m.spec, qosTargetMs: m.settings.qosTargetMs, weight: weights[m.name] ?? m.settings.weight };
}

/** `{"ready": true}` in a repository index request asks for the ready models only. */
function readyOnly(body: unknown): boolean {
  if (!Buffer.isBuffer(body) || body.length === 0) return false;
  return (parseJson(body) as { ready?: unknown } | null)?.ready === true;
}

/** A request's body bytes (`{}` when it has none). */
function bodyOf(body: unknown): Buffer {
  return Buffer.isBuffer(body) && body.length > 0 ? body : Buffer.from('{}');
}

/** A request body's JSON; 400 `malformed_json` when it is not JSON. */
function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new VeltairError('malformed_json', `malformed JSON: ${(err as Error).message}`);
  }
}
