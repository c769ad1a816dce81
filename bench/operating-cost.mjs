// What planning with the blocks' cost in operation changes (`bench --live --operating-queries`):
// one start of the live runtime, so one measurement of the units at start; each policy benched
// twice in a row, planning with its units as measured at start and as its operating run's blocks
// took them (the order rotates policy by policy). Each side tunes, predicts and searches as
// `bench --live --find-peak` does. Prints the live peaks, the simulator's predictions and their
// error side by side.
// Usage: node bench/operating-cost.mjs [--policies veltair,planaria] [--workload light]
//          [--repository models] [--operating-queries 1000] [--confirm-queries 4000] [--json FILE]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { launchedConfigured } from '../bin/launch.js';

if (launchedConfigured()) await main();

async function main() {
  const { values: args } = parseArgs({
    options: {
      policies: { type: 'string', default: 'veltair,planaria' },
      workload: { type: 'string', default: 'light' },
      repository: { type: 'string', default: 'models' },
      'operating-queries': { type: 'string', default: '1000' },
      'confirm-queries': { type: 'string', default: '4000' },
      json: { type: 'string' },
    },
  });
  const { startLiveBench } = await import('../dist/cli/bench.js');
  const { confirmFlag, numberFlag } = await import('../dist/cli/flags.js');
  const { WORKLOADS, TUNING_SEEDS, benchLive, formatLiveBench, table } =
    await import('../dist/load/index.js');
  const say = (m) => process.stderr.write(`${m}\n`);
  const operatingQueries = numberFlag('--operating-queries', args['operating-queries'], 1, true);
  const workload = WORKLOADS[args.workload];
  if (!workload) throw new Error(`no workload '${args.workload}'`);
  const t0 = Date.now();
  const { runtime, scenario, models } = await startLiveBench({
    workload,
    repository: args.repository,
    queries: 1000,
    seed: 1,
    checkEvery: 10,
    onProgress: say,
  });
  const reports = [];
  try {
    const policies = args.policies.split(',').map((s) => s.trim());
    for (const [k, policy] of policies.entries()) {
      const sides = k % 2 === 0 ? [0, operatingQueries] : [operatingQueries, 0];
      for (const q of sides) {
        say(
          `${policy}: units ${q === 0 ? 'as measured at start' : `as ${q} queries in operation took them`}`,
        );
        const report = await benchLive({
          runtime,
          scenario,
          policies: [policy],
          models,
          compiled: models.map((m) => m.profile),
          tuneSeeds: TUNING_SEEDS,
          relTolerance: 0.05,
          confirm: confirmFlag(args['confirm-queries'], scenario.seed),
          operatingQueries: q,
          onProgress: say,
        });
        console.log(formatLiveBench(report));
        reports.push({ operatingQueries: q, report });
      }
    }
  } finally {
    await runtime.stop();
  }
  const fmt = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const byCpus = (r) =>
    Object.entries(r ?? {})
      .map(([c, f]) => `${c}: ${f.toFixed(2)}`)
      .join(', ');
  const capacity = reports[0]?.report.capacityQps;
  console.log(
    `\nunits as measured at start against as blocks took them in operation (capacity ${capacity} QPS, ${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
  console.log(
    table(
      [
        'policy',
        'units',
        'peak QPS',
        'searched',
        'x capacity',
        'sim peak',
        'sim err %',
        'planned at',
        'spread',
        'ran / planned',
      ],
      reports.map(({ operatingQueries: q, report }) => {
        const row = report.rows[0];
        return [
          row.policy,
          q === 0 ? 'as measured' : 'in operation',
          fmt(row.peakQps),
          fmt(row.searchedPeakQps),
          row.peakQps === null ? '-' : (row.peakQps / report.capacityQps).toFixed(2),
          fmt(row.simPeakQps),
          fmt(row.simErrorPct),
          byCpus(row.operating?.scale) || '-',
          fmt(row.operating?.spread ?? report.runtime.latencySpread, 3),
          byCpus(row.cost?.ranOverPlanned),
        ];
      }),
    ),
  );
  if (args.json) writeFileSync(args.json, JSON.stringify(reports));
}
