/**
 * Runs the comparison of `veltair simulate --find-peak` as independent tasks on a pool of
 * worker threads: first every (workload, truth setting, policy) is tuned and its peak
 * confirmed, then every policy runs at its workload's reference rate, then (when asked) the
 * satisfaction curves are swept. Each task is deterministic, so the result is the same as
 * running them in turn in this thread, only sooner on a machine with spare cores.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { policySpec, type PolicyParams } from '../sched/index.js';
import { loadProfileSource, type TruthSetting } from '../sim/index.js';
import {
  assembleReport,
  evaluatePolicy,
  referenceOf,
  runAtReference,
  satisfactionCurve,
  type CurvePoint,
  type PointSummary,
  type PolicyEvaluation,
  type WorkloadReport,
} from './compare.js';
import type { Scenario } from './evaluate.js';
import { idealPeak, type IdealPeak, type ProtocolSettings } from './protocol.js';
import { prepareScenarios, type ScenarioOptions } from './setup.js';
import type { WorkloadName } from './workloads.js';

/** What a comparison covers: plain data only, so that workers can rebuild every scenario. */
export interface ComparisonJob {
  profiles: string;
  repository: string;
  workloads: WorkloadName[];
  truths: TruthSetting[];
  options: ScenarioOptions;
  policies: string[];
  settings: ProtocolSettings;
  /** Also sweep each tuned policy for the satisfaction plot (`WorkloadReport.curve`). */
  curve?: boolean;
}

interface ScenarioKey {
  profiles: string;
  repository: string;
  workload: WorkloadName;
  truth: TruthSetting;
  options: ScenarioOptions;
}

/** One unit of work for a worker. */
export type ComparisonTask =
  | { kind: 'evaluate'; key: ScenarioKey; policy: string; settings: ProtocolSettings }
  | {
      kind: 'reference';
      key: ScenarioKey;
      policy: string;
      params: PolicyParams;
      qps: number;
      settings: ProtocolSettings;
    }
  | { kind: 'curve'; key: ScenarioKey; report: WorkloadReport };

type TaskResult = PolicyEvaluation | PointSummary | CurvePoint[];

const scenarios = new Map<string, Scenario>();

function scenarioOf(key: ScenarioKey): Scenario {
  const id = JSON.stringify(key);
  let scn = scenarios.get(id);
  if (!scn) {
    const source = loadProfileSource(key.profiles, key.repository);
    const [prepared] = prepareScenarios(source, [key.workload], key.options);
    scn = { ...prepared.scenario, truth: key.truth };
    scenarios.set(id, scn);
  }
  return scn;
}

/** Runs one task in this thread (a worker's entry calls this too). */
export function runTask(task: ComparisonTask): TaskResult {
  const scn = scenarioOf(task.key);
  if (task.kind === 'evaluate') return evaluatePolicy(scn, policySpec(task.policy), task.settings);
  if (task.kind === 'reference')
    return runAtReference(scn, policySpec(task.policy), task.params, task.qps, task.settings);
  const specs = task.report.rows.map((r) => policySpec(r.policy));
  return satisfactionCurve(scn, task.report, specs);
}

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * The whole comparison, on up to `parallel` workers (in this thread when 1); reports in the
 * order of workloads, then truth settings. `onProgress` is told of each policy's evaluation as it
 * ends.
 */
export async function runComparison(
  job: ComparisonJob,
  parallel: number,
  onProgress?: (done: { workload: WorkloadName; truth: TruthSetting; evaluation: PolicyEvaluation }) => void,
): Promise<WorkloadReport[]> {
  const pool = parallel <= 1 ? undefined : new WorkerPool(parallel);
  const run = <T extends TaskResult>(task: ComparisonTask): Promise<T> =>
    (pool ? pool.run(task) : Promise.resolve().then(() => runTask(task))) as Promise<T>;
  try {
    const keys = job.workloads.flatMap((workload) =>
      job.truths.map((truth): ScenarioKey => ({
        profiles: job.profiles,
        repository: job.repository,
        workload,
        truth,
        options: job.options,
      })),
    );
    const evaluations = await Promise.all(
      keys.map((key) =>
        Promise.all(
          job.policies.map(async (policy) => {
            const e = await run<PolicyEvaluation>({ kind: 'evaluate', key, policy, settings: job.settings });
            onProgress?.({ workload: key.workload, truth: key.truth, evaluation: e });
            return e;
          }),
        ),
      ),
    );
    // The idealised reference runs on the profiles whatever the truth setting: once per workload.
    const ideals = new Map<WorkloadName, IdealPeak>();
    const idealOf = (key: ScenarioKey): IdealPeak => {
      let ideal = ideals.get(key.workload);
      if (ideal === undefined) {
        ideal = idealPeak(scenarioOf(key), job.settings.reportingSeeds, job.settings.test);
        ideals.set(key.workload, ideal);
      }
      return ideal;
    };
    const reports = await Promise.all(
      keys.map(async (key, k) => {
        const evals = evaluations[k];
        const best = referenceOf(evals);
        const atReference = new Map<string, PointSummary>();
        if (best) {
          const others = evals.filter((e) => e !== best);
          const summaries = await Promise.all(
            others.map((e) =>
              run<PointSummary>({
                kind: 'reference',
                key,
                policy: e.policy,
                params: e.params,
                qps: best.peakQps,
                settings: job.settings,
              }),
            ),
          );
          others.forEach((e, i) => atReference.set(e.policy, summaries[i]));
        }
        const report = assembleReport(scenarioOf(key), evals, atReference, idealOf(key));
        if (!job.curve) return report;
        return { ...report, curve: await run<CurvePoint[]>({ kind: 'curve', key, report }) };
      }),
    );
    return reports;
  } finally {
    await pool?.close();
  }
}

type WorkerMessage = { id: number; result: TaskResult } | { id: number; error: string };

/** Workers that each take the next task as soon as they are free. */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: { task: ComparisonTask; id: number }[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (r: TaskResult) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url));
      worker.on('message', (m: WorkerMessage) => this.settle(worker, m));
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.failAll(new Error(`comparison worker exited with code ${code}`));
      });
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  run(task: ComparisonTask): Promise<TaskResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ task, id });
      this.pump();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop() as Worker;
      worker.postMessage(this.queue.shift());
    }
  }

  private settle(worker: Worker, m: WorkerMessage): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    this.idle.push(worker);
    this.pump();
    if ('error' in m) p?.reject(new Error(m.error));
    else p?.resolve(m.result);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
