// Dispatch to start: how long a block worker, asleep since its last chain, takes from the pool's
// `run` call to its chain's first session run (the wait the live engine's cost counts), after
// idle gaps of different lengths. This checkout's dist/ and, with --base DIR, another built
// checkout's, interleaved in one process (the order rotates rep by rep); each side has its own
// pinned, yielded workers on the same CPUs, and only one side dispatches at a time.
// Usage: node --harmony-rab-gsab-transfer bench/dispatch.mjs [--base DIR] [--model PATH]
//          [--gaps 0,1,10] [--samples 300] [--reps 2]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    model: { type: 'string', default: 'models/mobilenetv2/1/model.onnx' },
    gaps: { type: 'string', default: '0,1,10' },
    samples: { type: 'string', default: '300' },
    reps: { type: 'string', default: '2' },
  },
});

async function side(root) {
  const dist = new URL('dist/', root);
  const { WorkerPool, processCpus } = await import(new URL('runtime/index.js', dist).href);
  const { toWire } = await import(new URL('runtime/wire.js', dist).href);
  const { encodeModel, loadModel } = await import(new URL('onnx/index.js', dist).href);
  const { seededInputs } = await import(new URL('partition/index.js', dist).href);
  const model = await loadModel(args.model);
  const inputs = seededInputs(model);
  // A fresh buffer per run: the pool transfers the feeds' buffers to the worker.
  const feeds = () =>
    Object.fromEntries(
      Object.entries(inputs).map(([n, t]) => {
        const w = toWire(t);
        return [n, { ...w, data: w.data.slice() }];
      }),
    );
  const cpus = processCpus();
  const pool = await WorkerPool.start(cpus, { pin: true, yieldToEngine: true });
  const spec = {
    key: 'whole',
    bytes: encodeModel(model),
    config: { threads: 1, optimization: 'all', spinning: false },
    warmup: feeds(),
    source: args.model,
  };
  for (const cpu of cpus) await pool.open(cpu, [spec]);
  const chain = { steps: [{ session: 'whole', inputs: Object.keys(inputs), release: [] }], returns: [] };
  return {
    cpus,
    pool,
    /** Microseconds from `run` to the chain's start, one sample per dispatch. */
    async measure(cpu, gapMs, samples) {
      const us = [];
      for (let k = 0; k < samples; k++) {
        // Timers wait at least 1 ms: a gap of 0 is the event loop's next turn after the answer.
        await (gapMs > 0 ? sleep(gapMs) : nextTurn());
        const f = feeds();
        const sentEpochMs = performance.timeOrigin + performance.now();
        const r = await new Promise((done) => pool.run(cpu, chain, f, done));
        if (r instanceof Error) throw r;
        us.push((r.startEpochMs - sentEpochMs) * 1000);
      }
      return us;
    },
  };
}

const sides = { candidate: await side(new URL('../', import.meta.url)) };
if (args.base) sides.baseline = await side(pathToFileURL(`${resolve(args.base)}/`));
const names = Object.keys(sides);
const rank = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const cell = (xs) =>
  `p50 ${rank(xs, 0.5).toFixed(0)} p90 ${rank(xs, 0.9).toFixed(0)} p99 ${rank(xs, 0.99).toFixed(0)}`;

console.log(
  `${args.model}, ${args.samples} dispatches per CPU, gap and rep; us; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const gapMs of args.gaps.split(',').map(Number)) {
  const us = Object.fromEntries(names.map((n) => [n, []]));
  for (let rep = 0; rep < Number(args.reps); rep++) {
    const order = rep % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      for (const cpu of sides[n].cpus)
        us[n].push(...(await sides[n].measure(cpu, gapMs, Number(args.samples))));
    }
  }
  for (const n of names) us[n].sort((a, b) => a - b);
  const cells = names.map((n) => `${n} ${cell(us[n])}`);
  if (sides.baseline) {
    const ratio = (p) => (rank(us.candidate, p) / rank(us.baseline, p)).toFixed(2);
    cells.push(`candidate / baseline: p50 x${ratio(0.5)} p90 x${ratio(0.9)} p99 x${ratio(0.99)}`);
  }
  console.log(`gap ${String(gapMs).padStart(4)} ms  ${cells.join('  ')}`);
}
for (const n of names) await sides[n].pool.stop();
