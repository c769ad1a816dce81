/**
 * Prometheus metrics of one server (a registry of its own, so that servers in one process, as in
 * tests, do not share counters). Latencies in seconds, split into queue and compute.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TICKS_PER_SECOND, cpuTicks, threadCpuMs } from '../runtime/index.js';

/** What the gauges read when Prometheus scrapes. */
export interface ServerGauges {
  queueDepth(model: string): number;
  models(): readonly string[];
  cpusBusy(): number;
  interference(): number;
  sessions(): number;
  threads(): number;
  /** The CPUs the engine schedules on. */
  cpus(): readonly number[];
  /** The scheduling policy and its parameters now (`k=v k=v`). */
  policy(): { name: string; params: string };
  /** By CPU count, the factor the units are planned at over their latency as measured at start. */
  unitScale(): ReadonlyMap<number, number>;
}

/** Buckets from 1 ms to 10 s: inference latencies on CPUs. */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model'>;
  readonly successes: Counter<'model'>;
  readonly failures: Counter<'model' | 'reason'>;
  readonly rejections: Counter<'model' | 'reason'>;
  readonly qos: Counter<'model' | 'result'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly computeSeconds: Histogram<'model'>;
  readonly requestSeconds: Histogram<'model'>;
  readonly lateSeconds: Histogram<'model'>;
  /** The most any answer or rejection of the engine came after its deadline (s). */
  worstLateSeconds = 0;
  /** The same, less what the block running at the deadline excused (s). */
  worstLateBeyondBlockSeconds = 0;
  /** The same, less the longest of the request's blocks: past the server's deadline promise (s). */
  worstLateBeyondLongestBlockSeconds = 0;

  constructor(gauges: ServerGauges) {
    const registers = [this.registry];
    // The process's own: resident memory, the engine thread's V8 heap, external memory, event
    // loop lag, as every Node.js service exposes them.
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'veltair_requests_total',
      help: 'Inference requests received, by model',
      labelNames: ['model'],
      registers,
    });
    this.successes = new Counter({
      name: 'veltair_success_total',
      help: 'Inference requests answered',
      labelNames: ['model'],
      registers,
    });
    this.failures = new Counter({
      name: 'veltair_failure_total',
      help: 'Inference requests that failed: bad input (reason "invalid"), an error running the model ("runtime"), or writing its outputs to shared memory ("output")',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.rejections = new Counter({
      name: 'veltair_rejected_total',
      help: 'Inference requests rejected by the scheduler: queue full, dropped (could not meet its deadline), expired, shutting down',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.qos = new Counter({
      name: 'veltair_qos_total',
      help: 'Requests by whether they were answered within their deadline (satisfied) or not (missed; rejections count as missed)',
      labelNames: ['model', 'result'],
      registers,
    });
    const histogram = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: ['model'], buckets: LATENCY_BUCKETS_S, registers });
    this.queueSeconds = histogram('veltair_queue_seconds', 'From arrival to the first block starting');
    this.computeSeconds = histogram('veltair_compute_seconds', 'From the first block starting to the answer');
    this.requestSeconds = histogram('veltair_request_seconds', 'From arrival to the answer');
    this.lateSeconds = histogram(
      'veltair_late_seconds',
      'How long after its deadline the engine answered or rejected a request (requests past it only)',
    );
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge(
      'veltair_worst_late_seconds',
      'The most any request was answered or rejected after its deadline since start',
      () => this.worstLateSeconds,
    );
    gauge(
      'veltair_worst_late_beyond_block_seconds',
      'The most any request was answered or rejected after its deadline, less how long the block it was running at the deadline ran past it (the part a block does not excuse), since start',
      () => this.worstLateBeyondBlockSeconds,
    );
    gauge(
      'veltair_worst_late_beyond_longest_block_seconds',
      "The most any request was answered or rejected after its deadline plus the longest of its blocks (the longest block it could have been running then), since start: 0 while the server's deadline promise holds",
      () => this.worstLateBeyondLongestBlockSeconds,
    );
    new Gauge({
      name: 'veltair_queue_depth',
      help: 'Requests of the model waiting or running',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of gauges.models()) this.set({ model: m }, gauges.queueDepth(m));
      },
    });
    new Gauge({
      name: 'veltair_policy_info',
      help: 'The scheduling policy and the parameters it runs with now (value 1)',
      labelNames: ['policy', 'params'],
      registers,
      collect() {
        const { name, params } = gauges.policy();
        this.reset();
        this.set({ policy: name, params }, 1);
      },
    });
    new Gauge({
      name: 'veltair_unit_scale',
      help: 'What blocks on this many CPUs cost in operation over their latency as measured at start: the factor the policy plans them at (a count not shown: as measured)',
      labelNames: ['cpus'],
      registers,
      collect() {
        this.reset();
        for (const [cpus, factor] of gauges.unitScale()) this.set({ cpus: String(cpus) }, factor);
      },
    });
    const ticksAtStart = cpuTicks(gauges.cpus());
    new Counter({
      name: 'veltair_cpu_stolen_seconds_total',
      help: "CPU time the hypervisor took from the engine's CPUs since start (Linux's steal; 0 where the OS does not say): blocks run slower meanwhile",
      registers,
      collect() {
        const now = cpuTicks(gauges.cpus());
        if (!ticksAtStart || !now) return;
        this.reset();
        this.inc((now.stolen - ticksAtStart.stolen) / TICKS_PER_SECOND);
      },
    });
    new Counter({
      name: 'veltair_engine_thread_cpu_seconds_total',
      help: "CPU time of the thread that runs the engine and serves HTTP and gRPC, since it started (its decisions, messages to and from the block workers, requests' bodies; absent where the OS does not say): where every CPU runs blocks, that time is taken from them",
      registers,
      collect() {
        // Scraped on the engine's own thread: the server runs the engine and the API on one.
        const cpuMs = threadCpuMs();
        if (cpuMs === undefined) return;
        this.reset();
        this.inc(cpuMs / 1000);
      },
    });
    gauge('veltair_cpus_busy', 'CPUs the engine has given to running blocks', () => gauges.cpusBusy());
    gauge('veltair_interference_level', 'The interference monitor estimate', () => gauges.interference());
    gauge('veltair_sessions', 'ONNX Runtime sessions held', () => gauges.sessions());
    gauge('veltair_threads', 'Worker threads running blocks', () => gauges.threads());
  }
}
