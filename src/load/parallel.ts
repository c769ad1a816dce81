/**
 * Runs the per-workload comparisons of `veltair simulate --find-peak` on worker threads,
 * one workload per worker. Workloads are independent and each is deterministic, so the
 * result is the same as running them in turn, only sooner on a machine with spare cores.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { policySpec } from '../sched/index.js';
import { loadProfileSource } from '../sim/index.js';
import { compareWorkload, satisfactionCurve, type WorkloadReport } from './compare.js';
import { prepareScenarios, type ScenarioOptions } from './setup.js';
import type { WorkloadName } from './workloads.js';

/** Everything a worker needs to rebuild its scenario: plain data only. */
export interface ComparisonJob {
  profiles: string;
  repository: string;
  workload: WorkloadName;
  options: ScenarioOptions;
  policies: string[];
  /** Also sweep each tuned policy for the satisfaction plot (`WorkloadReport.curve`). */
  curve?: boolean;
}

type WorkerMessage =
  { kind: 'progress' } | { kind: 'done'; report: WorkloadReport } | { kind: 'error'; message: string };

/** One job in this thread. */
export function runComparisonJob(job: ComparisonJob, onProgress?: () => void): WorkloadReport {
  const source = loadProfileSource(job.profiles, job.repository);
  const [prepared] = prepareScenarios(source, [job.workload], job.options);
  const specs = job.policies.map((p) => policySpec(p));
  const report = compareWorkload(prepared.scenario, specs, onProgress);
  return job.curve ? { ...report, curve: satisfactionCurve(prepared.scenario, report, specs) } : report;
}

export function defaultJobs(workloads: number): number {
  return Math.max(1, Math.min(workloads, availableParallelism()));
}

/** Runs the jobs on up to `jobs` workers (in this thread when jobs is 1); results in job order. */
export async function runComparisonJobs(
  jobs: readonly ComparisonJob[],
  parallel: number,
  onProgress?: () => void,
): Promise<WorkloadReport[]> {
  if (parallel <= 1 || jobs.length <= 1) return jobs.map((j) => runComparisonJob(j, onProgress));
  const results: WorkloadReport[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const k = next++;
      results[k] = await inWorker(jobs[k], onProgress);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, lane));
  return results;
}

function inWorker(job: ComparisonJob, onProgress?: () => void): Promise<WorkloadReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: job });
    worker.on('message', (m: WorkerMessage) => {
      if (m.kind === 'progress') onProgress?.();
      else if (m.kind === 'done') resolve(m.report);
      else reject(new Error(m.message));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (code !== 0) reject(new Error(`comparison worker for ${job.workload} exited with code ${code}`));
    });
  });
}
