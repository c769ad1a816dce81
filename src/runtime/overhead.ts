import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ModelProto } from '../onnx/index.js';
import {
  discoverLayers,
  inferValueTypes,
  planBlocks,
  planCoarseBlocks,
  type BlockRange,
} from '../partition/index.js';
import { BlockExecutor, executionPartition, openModelSession } from './executor.js';
import { type TensorMap } from '../partition/index.js';
import { nearestRank } from '../profile/index.js';
import { seededInputs } from '../partition/index.js';
import type { SessionConfig } from '../partition/index.js';

/** How a model is run: as one session, in about `coarseBlocks` blocks, or one block per layer. */
export type OverheadVariant = 'whole' | 'coarse' | 'layer';

export interface OverheadOptions {
  /** Timed runs per variant (after warm-up). */
  runs: number;
  warmupRuns: number;
  threads: readonly number[];
  /** Blocks of the coarse plan (8 by default). */
  coarseBlocks: number;
  /** Called after each (model, threads) cell, e.g. to advance a progress bar. */
  onCell?: (model: string, threads: number) => void;
}

export interface OverheadRow {
  model: string;
  threads: number;
  variant: OverheadVariant;
  blocks: number;
  medianMs: number;
  p99Ms: number;
  /** This variant's median (p99) over whole-model's median (p99) in the same cell. */
  medianRatio: number;
  p99Ratio: number;
  /**
   * Median CPU time (user + system) of this process per run, and its ratio over whole-model's.
   * At 1 thread ORT computes on the calling thread, so this is the run's own work, immune to
   * waiting for a busy CPU (not to caches polluted by co-runners); at more threads it also
   * counts the pool's threads, spinning included.
   */
  cpuMedianMs: number;
  cpuRatio: number;
}

export interface OverheadReport {
  /** 1, 5 and 15-minute load averages at the start and end: timings are only as quiet as these. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
  runs: number;
  rows: OverheadRow[];
}

interface Runner {
  variant: OverheadVariant;
  blocks: number;
  run: (feeds: TensorMap) => Promise<unknown>;
  release: () => Promise<void>;
  samplesMs: number[];
  cpuMs: number[];
}

async function openRunners(
  model: ModelProto,
  config: SessionConfig,
  coarseBlocks: number,
  name: string,
): Promise<Runner[]> {
  const typed = await inferValueTypes(model, name);
  const layers = discoverLayers(typed);
  // Boundaries weighed on the graph the executor cuts (ORT's optimized one at `all`): planned on
  // the original graph, ResNet-50's 8 blocks ran 0.6-1.3 points further from the whole model.
  // One partition for both executors: ORT's optimized graph takes seconds to get (VGG-19: 11 s).
  const partition = await executionPartition(typed, layers, [config], name);
  const whole = await openModelSession(model, config, name);
  const plans: [OverheadVariant, BlockRange[]][] = [
    ['coarse', planCoarseBlocks(layers.length, coarseBlocks, (k) => partition.cut.cutBytes(k))],
    ['layer', planBlocks(layers, 'layer')],
  ];
  const runners: Runner[] = [
    {
      variant: 'whole',
      blocks: 1,
      run: (feeds) => whole.run(feeds),
      release: () => whole.release(),
      samplesMs: [],
      cpuMs: [],
    },
  ];
  for (const [variant, plan] of plans) {
    const executor = await BlockExecutor.create(typed, layers, plan, config, name, { partition });
    runners.push({
      variant,
      blocks: plan.length,
      run: (feeds) => executor.run(feeds),
      release: () => executor.release(),
      samplesMs: [],
      cpuMs: [],
    });
  }
  return runners;
}

/**
 * Measures the cost of running a model block by block: whole-model, coarse-block and per-layer
 * latencies of the same model, same inputs and same session config, interleaved run by run
 * (the order rotates) so that drifting machine load hits all variants alike.
 */
export async function measureOverhead(
  models: readonly { name: string; model: ModelProto }[],
  options: OverheadOptions,
): Promise<OverheadReport> {
  const loadAverageStart = loadavg();
  const rows: OverheadRow[] = [];
  for (const { name, model } of models) {
    const feeds = seededInputs(model, { seed: 1 });
    for (const threads of options.threads) {
      const config: SessionConfig = { threads, optimization: 'all', spinning: false };
      const runners = await openRunners(model, config, options.coarseBlocks, name);
      try {
        await timeInterleaved(runners, feeds, options);
      } finally {
        for (const r of runners) await r.release();
      }
      rows.push(...summarize(name, threads, runners));
      options.onCell?.(name, threads);
    }
  }
  return { loadAverageStart, loadAverageEnd: loadavg(), runs: options.runs, rows };
}

async function timeInterleaved(runners: Runner[], feeds: TensorMap, options: OverheadOptions): Promise<void> {
  for (let i = 0; i < options.warmupRuns; i++) for (const r of runners) await r.run(feeds);
  for (let i = 0; i < options.runs; i++) {
    for (let k = 0; k < runners.length; k++) {
      const r = runners[(i + k) % runners.length];
      const cpu = process.cpuUsage();
      const start = performance.now();
      await r.run(feeds);
      r.samplesMs.push(performance.now() - start);
      const used = process.cpuUsage(cpu);
      r.cpuMs.push((used.user + used.system) / 1000);
    }
  }
}

function summarize(model: string, threads: number, runners: Runner[]): OverheadRow[] {
  const stats = runners.map((r) => {
    const sorted = [...r.samplesMs].sort((a, b) => a - b);
    const cpu = nearestRank(
      [...r.cpuMs].sort((a, b) => a - b),
      0.5,
    );
    return { r, median: nearestRank(sorted, 0.5), p99: nearestRank(sorted, 0.99), cpu };
  });
  const base = stats[0];
  return stats.map(({ r, median, p99, cpu }) => ({
    model,
    threads,
    variant: r.variant,
    blocks: r.blocks,
    medianMs: median,
    p99Ms: p99,
    medianRatio: median / base.median,
    p99Ratio: p99 / base.p99,
    cpuMedianMs: cpu,
    cpuRatio: cpu / base.cpu,
  }));
}
