// What an idealized scheduler reaches on a workload's model mix, a yardstick for live peaks: the
// live bench's arrival sequences (Poisson, the same seeded draws) replayed on N CPUs with no
// overhead at all. Each query runs on one CPU at a time at its compiled isolated 1-CPU latency;
// a CPU picks the waiting query with the earliest deadline (or the earliest arrival: --order fcfs),
// runs it for at most one quantum of work, and picks again; a query that can no longer finish
// by its deadline is dropped (a miss). A quantum of Infinity is whole-query, run to completion.
// QoS targets follow the live bench's rule (decision 0013), from the same compiled profiles.
// Prints, per scheduler, the highest rate of a grid below the first rate where some model of
// some seed falls under 99 %.
// Usage: node bench/ideal-bound.mjs [--workload light] [--repository models] [--cpus 2]
//          [--queries 4000] [--seeds 1001,1002,1003] [--quanta 0.1,2,5,Infinity] [--order edf|fcfs]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    workload: { type: 'string', default: 'light' },
    repository: { type: 'string', default: 'models' },
    cpus: { type: 'string', default: '2' },
    queries: { type: 'string', default: '4000' },
    seeds: { type: 'string', default: '1001,1002,1003' },
    quanta: { type: 'string', default: '0.1,2,5,Infinity' },
    order: { type: 'string', default: 'edf' },
  },
});
const dist = new URL('../dist/', import.meta.url);
const { readProfileFor } = await import(new URL('compile/index.js', dist).href);
const { ProfilePredictor } = await import(new URL('profile/index.js', dist).href);
const { poissonArrivals, qosTargets, WORKLOADS } = await import(new URL('load/index.js', dist).href);

const cpus = Number(args.cpus);
const queries = Number(args.queries);
const seeds = args.seeds.split(',').map(Number);
const quanta = args.quanta.split(',').map(Number);
const byDeadline = args.order === 'edf';
const workload = WORKLOADS[args.workload];
if (!workload) throw new Error(`unknown workload ${args.workload} (${Object.keys(WORKLOADS).join(', ')})`);
const weights = workload.weights;
const names = Object.keys(weights);
const predictors = new Map();
for (const name of names) {
  const profile = await readProfileFor(resolve(args.repository, name, '1', 'model.onnx'));
  if (!profile) throw new Error(`${name} has no compiled profile in ${args.repository}`);
  predictors.set(name, new ProfilePredictor(profile));
}
const oneCpuMs = new Map(
  [...predictors].map(([m, p]) => [m, p.predict(0, p.layerCount, 1, 0).latencyUs / 1000]),
);
const targetMs = Object.fromEntries(
  Object.entries(qosTargets(names, predictors, cpus, false)).map(([m, q]) => [m, q.targetMs]),
);

/** Misses per model of one replay. */
function replay(qps, seed, quantumMs) {
  const jobs = poissonArrivals(weights, qps, queries, seed).map((a) => ({
    model: a.model,
    atMs: a.atMs,
    deadlineMs: a.atMs + targetMs[a.model],
    leftMs: oneCpuMs.get(a.model),
    missed: false,
  }));
  const running = Array.from({ length: cpus }, () => null);
  const waiting = [];
  let next = 0;
  let nowMs = 0;
  const key = byDeadline ? (j) => j.deadlineMs : (j) => j.atMs;
  for (;;) {
    while (next < jobs.length && jobs[next].atMs <= nowMs) waiting.push(jobs[next++]);
    for (let c = 0; c < cpus; c++) {
      const r = running[c];
      if (r && r.sliceEndMs <= nowMs) {
        running[c] = null;
        if (r.job.leftMs > 1e-9) waiting.push(r.job);
      }
    }
    for (let c = 0; c < cpus; c++) {
      if (running[c]) continue;
      waiting.sort((a, b) => key(a) - key(b));
      let job;
      while ((job = waiting.shift()) && nowMs + job.leftMs > job.deadlineMs + 1e-9) job.missed = true;
      if (!job) break;
      running[c] = { job, sliceEndMs: nowMs + Math.min(quantumMs, job.leftMs) };
    }
    const busy = running.filter(Boolean);
    if (busy.length === 0 && next >= jobs.length) break;
    const nextMs = Math.min(
      next < jobs.length ? jobs[next].atMs : Infinity,
      ...busy.map((r) => r.sliceEndMs),
    );
    for (const r of busy) r.job.leftMs -= nextMs - nowMs;
    nowMs = nextMs;
  }
  const misses = {};
  for (const j of jobs) misses[j.model] = (misses[j.model] ?? 0) + (j.missed ? 1 : 0);
  const planned = {};
  for (const j of jobs) planned[j.model] = (planned[j.model] ?? 0) + 1;
  return Math.min(...names.map((m) => 1 - (misses[m] ?? 0) / planned[m]));
}

const capacityQps = (cpus * 1000) / names.reduce((s, m) => s + weights[m] * oneCpuMs.get(m), 0);
console.log(
  `${args.workload} mix on ${cpus} CPUs, ${queries} queries per replay, seeds ${seeds.join(',')}; ` +
    `1-CPU latency ${names.map((m) => `${m} ${oneCpuMs.get(m).toFixed(2)}`).join(', ')} ms; ` +
    `targets ${names.map((m) => `${m} ${targetMs[m]}`).join(', ')} ms; capacity ${capacityQps.toFixed(1)} QPS`,
);
const stepQps = capacityQps / 40;
for (const quantumMs of quanta) {
  let passed = 0;
  const curve = [];
  for (let qps = stepQps; qps <= capacityQps; qps += stepQps) {
    const lowest = Math.min(...seeds.map((s) => replay(qps, s, quantumMs)));
    curve.push(`${qps.toFixed(1)}:${(100 * lowest).toFixed(2)}`);
    if (lowest < 0.99) break;
    passed = qps;
  }
  console.log(
    `${args.order} quantum ${quantumMs} ms: 99 % up to ${passed.toFixed(1)} QPS (${(passed / capacityQps).toFixed(2)} of capacity); lowest model % by rate ${curve.slice(-4).join(' ')}`,
  );
}
