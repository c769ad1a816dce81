// Simulator speed: queries simulated per second, per workload and policy, of this checkout's
// dist/ and, with --base DIR, of another built checkout's, interleaved in one process (the
// order rotates rep by rep). Times are the process's CPU time, which a busy machine disturbs
// less than wall time; each run's satisfaction must agree between the two (same decisions).
// Usage: node bench/sim-speed.mjs [--base DIR] [--queries 5000] [--reps 3]
//          [--policies veltair,prema,planaria,layer-wise] [--workloads light,medium,heavy]
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    queries: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '3' },
    policies: { type: 'string', default: 'veltair,prema,planaria,layer-wise' },
    workloads: { type: 'string', default: 'light,medium,heavy' },
  },
});
/** Offered rates near each workload's veltair peak on the 64-core calibration. */
const QPS = { light: 480, medium: 150, heavy: 60 };
const queries = Number(args.queries);

async function side(root) {
  const dist = new URL('dist/', root);
  const { loadProfileSource } = await import(new URL('sim/index.js', dist).href);
  const { prepareScenarios, runPoint } = await import(new URL('load/index.js', dist).href);
  const { policySpec } = await import(new URL('sched/index.js', dist).href);
  const source = loadProfileSource('threadripper-3990x', 'models');
  return (workload, policy) => {
    const [prepared] = prepareScenarios(source, [workload], { totalCores: 64, queries, seed: 1 });
    const spec = policySpec(policy);
    const before = process.cpuUsage();
    const result = runPoint(prepared.scenario, spec, spec.defaults, QPS[workload]);
    const used = process.cpuUsage(before);
    return { cpuMs: (used.user + used.system) / 1000, satisfaction: result.satisfaction };
  };
}

const sides = { candidate: await side(new URL('../', import.meta.url)) };
if (args.base) sides.baseline = await side(pathToFileURL(`${resolve(args.base)}/`));
const names = Object.keys(sides);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const qps = (ms) => Math.round((queries / ms) * 1000);

console.log(
  `${queries} queries per run, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const workload of args.workloads.split(',')) {
  for (const policy of args.policies.split(',')) {
    const runs = Object.fromEntries(names.map((n) => [n, []]));
    for (let rep = 0; rep < Number(args.reps); rep++) {
      const order = rep % 2 === 0 ? names : [...names].reverse();
      for (const n of order) runs[n].push(sides[n](workload, policy));
    }
    const cells = names.map((n) => `${n} ${qps(median(runs[n].map((r) => r.cpuMs)))} q/s`);
    if (sides.baseline) {
      const ratio = median(runs.baseline.map((r) => r.cpuMs)) / median(runs.candidate.map((r) => r.cpuMs));
      const same = runs.baseline.every((r, k) => r.satisfaction === runs.candidate[k].satisfaction);
      cells.push(`x${ratio.toFixed(2)}`, same ? 'same results' : 'RESULTS DIFFER');
    }
    const satisfaction = runs.candidate[0].satisfaction.toFixed(4);
    console.log(
      `${workload.padEnd(7)} ${policy.padEnd(16)} ${cells.join('  ')}  satisfaction ${satisfaction}`,
    );
  }
}
