import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { checkLedgerTrace } from '../engine/index.js';
import { seededRandom } from '../onnx/index.js';
import { branchModel, multiIoModel, residualModel } from '../partition/fixtures.js';
import { POLICIES, policySpec, type PolicyContext } from '../sched/index.js';
import {
  LiveRuntime,
  compareOutputs,
  openModelSession,
  operatingCost,
  type InferOutcome,
  type LiveModelSpec,
} from './index.js';
import type { ProfilePredictor } from '../profile/index.js';
import { seededInputs, type TensorMap } from '../partition/index.js';
import { DEFAULT_SESSION_CONFIG } from '../partition/index.js';
import { loadModel } from '../onnx/index.js';
import { liveModelSpec } from './testing.js';

const QOS_MS = { residual: 40, branch: 40, multi: 40 };

describe('the live engine', () => {
  let dir: string;
  let specs: LiveModelSpec[];
  let runtime: LiveRuntime;
  const inputs = new Map<string, TensorMap>();
  const expected = new Map<string, TensorMap>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'veltair-live-'));
    specs = [
      await liveModelSpec(dir, 'residual', residualModel().model),
      await liveModelSpec(dir, 'branch', branchModel().model),
      await liveModelSpec(dir, 'multi', multiIoModel().model),
    ];
    // Every layer its own segment, so that blocks are chains of many sessions.
    runtime = await LiveRuntime.start({
      models: specs,
      segments: { junctionShare: Infinity },
      reportCpu: true,
      measure: { rounds: 2 },
    });
    for (const s of specs) {
      const model = await loadModel(s.path);
      const feeds = seededInputs(model, { seed: 3 });
      const session = await openModelSession(model, DEFAULT_SESSION_CONFIG);
      expected.set(s.name, (await session.run(feeds)) as TensorMap);
      await session.release();
      inputs.set(s.name, feeds);
    }
  });

  after(async () => {
    await runtime.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const copy = (feeds: TensorMap): TensorMap =>
    Object.fromEntries(
      Object.entries(feeds).map(([n, t]) => [
        n,
        new ort.Tensor(t.type, (t.data as Float32Array).slice(), t.dims),
      ]),
    );

  it(
    "puts every block thread below the engine's and says where each stands",
    { skip: process.platform !== 'linux' },
    () => {
      const { engineNice, workers } = runtime.report.threadPriority;
      assert.notEqual(workers, 'unchanged', 'a thread may always lower its own priority');
      // /proc/<pid>/task/<tid>/stat after the command name: nice is field 19, policy field 41.
      const threads = readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { tid: Number(tid), nice: Number(fields[16]), policy: Number(fields[38]) };
      });
      const SCHED_IDLE = 5;
      const below = threads.filter((t) => (workers === 'idle' ? t.policy === SCHED_IDLE : t.nice === 5));
      assert.ok(
        below.length >= runtime.report.cpus.length,
        `${below.length} block threads below the engine's`,
      );
      const engine = threads.find((t) => t.tid === process.pid);
      assert.equal(engine?.policy, 0, "the engine's thread stays an ordinary one");
      if (engineNice !== null) assert.equal(engine?.nice, engineNice);
    },
  );

  it('cuts every fixture into one segment per layer and holds sessions for each', () => {
    for (const m of runtime.report.models) assert.ok(m.segments > 1, `${m.name}: ${m.segments} segments`);
    assert.ok(runtime.report.sessions > 0);
  });

  for (const name of Object.keys(POLICIES)) {
    it(`under ${name}, answers every query right or rejects it with a reason, loses none, and holds no more CPUs than exist`, async () => {
      const spec = policySpec(name);
      const weights = { residual: 0.4, branch: 0.3, multi: 0.3 };
      const ctx: PolicyContext = {
        totalCores: runtime.pool.cpus.length,
        modelWeights: weights,
        qosTargetMs: QOS_MS,
        profile: (m) => runtime.model(m).predictor,
      };
      const engine = runtime.engine({
        policy: spec.create(spec.defaults, ctx),
        qosTargetMs: QOS_MS,
        trace: true,
      });
      const arrivals = poissonArrivals(Object.keys(weights), 400, 200, 7);
      const start = engine.clock.nowMs();
      const answers: Promise<[string, InferOutcome]>[] = [];
      for (const a of arrivals) {
        const wait = start + a.atMs - engine.clock.nowMs();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        answers.push(
          engine
            .infer(a.model, copy(inputs.get(a.model)!), { arrivalMs: start + a.atMs })
            .then((o) => [a.model, o]),
        );
      }
      const outcomes = await Promise.all(answers);
      await engine.close();

      for (const [model, o] of outcomes) {
        if (o.status === 'ok') {
          const cmp = compareOutputs(expected.get(model)!, o.outputs);
          assert.ok(cmp.ok, `${name}: ${model} answered wrong: ${JSON.stringify(cmp.outputs)}`);
        } else {
          assert.equal(o.status, 'rejected', `${name}: ${model} failed: ${JSON.stringify(o)}`);
          assert.ok(['deadline_unreachable', 'expired'].includes(o.reason), o.reason);
        }
      }
      const stats = engine.stats();
      const counts = [...stats.engine.counts.values()];
      const ended =
        [...stats.engine.latencies.values()].reduce((n, l) => n + l.length, 0) +
        counts.reduce((n, c) => n + c.rejected + c.expired + c.failed, 0);
      assert.equal(stats.engine.arrived, arrivals.length, 'every query arrived once');
      assert.equal(ended, arrivals.length, 'every query ended exactly once');
      assert.ok(checkLedgerTrace(stats.ledger, runtime.pool.cpus.length) <= runtime.pool.cpus.length);
      if (process.platform === 'linux')
        assert.ok((stats.engineThreadCpuMs ?? -1) > 0, "the engine reports its own thread's CPU time");
      // What ran where, as the workers saw it: no CPU ran two blocks at once.
      const byCpu = new Map<number, [number, number][]>();
      for (const b of stats.blocks)
        for (const cpu of b.cpus) (byCpu.get(cpu) ?? byCpu.set(cpu, []).get(cpu)!).push([b.startMs, b.endMs]);
      for (const [cpu, spans] of byCpu) {
        spans.sort((x, y) => x[0] - y[0]);
        for (let k = 1; k < spans.length; k++)
          assert.ok(spans[k][0] >= spans[k - 1][1] - 1e-6, `CPU ${cpu} ran two blocks at once`);
      }
      if (runtime.report.pinned) {
        const strays = stats.blocks.filter((b) => b.ranOnCpu !== undefined && b.ranOnCpu !== b.cpus[0]);
        assert.equal(strays.length, 0, 'a block ran off its first CPU');
      }
    });
  }

  it('plans with its units scaled by what blocks cost in operation, measured against the units as measured at start', async () => {
    const weights = { residual: 0.4, branch: 0.3, multi: 0.3 };
    const quiet = (p: ProfilePredictor, cpus: number) => p.predict(0, p.layerCount, cpus, 0).latencyUs;
    const measured = new Map(specs.map((s) => [s.name, runtime.model(s.name).measuredPredictor]));
    try {
      runtime.useOperatingCost({ scale: new Map([[1, 1.5]]), spread: 0.1 });
      assert.deepEqual(runtime.report.operating, { scale: { '1': 1.5 }, spread: 0.1 });
      for (const [name, p] of measured) {
        const planned = runtime.predictors.get(name)!;
        assert.ok(Math.abs(quiet(planned, 1) / quiet(p, 1) - 1.5) < 1e-6, `${name} on 1 CPU`);
        if (runtime.pool.cpus.length > 1)
          assert.equal(quiet(planned, 2), quiet(p, 2), `${name} on 2 CPUs is as measured`);
      }
      const spec = policySpec('veltair');
      const ctx: PolicyContext = {
        totalCores: runtime.pool.cpus.length,
        modelWeights: weights,
        qosTargetMs: QOS_MS,
        profile: (m) => runtime.model(m).predictor,
      };
      const engine = runtime.engine({ policy: spec.create(spec.defaults, ctx), qosTargetMs: QOS_MS });
      const start = engine.clock.nowMs();
      const answers: Promise<InferOutcome>[] = [];
      for (const a of poissonArrivals(Object.keys(weights), 300, 150, 11)) {
        const wait = start + a.atMs - engine.clock.nowMs();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        answers.push(engine.infer(a.model, copy(inputs.get(a.model)!), { arrivalMs: start + a.atMs }));
      }
      await Promise.all(answers);
      await engine.close();
      const blocks = engine.stats().blocks;
      const { scale } = runtime.operatingCostOf(blocks);
      assert.ok(scale.size > 0, `${blocks.length} blocks give a scale`);
      assert.deepEqual(
        [...scale],
        [...operatingCost(blocks, measured).scale],
        "measured against the start's units, not the 1.5 in use",
      );
    } finally {
      runtime.useOperatingCost(null);
    }
    assert.equal(runtime.report.operating, null);
    for (const [name, p] of measured)
      assert.equal(quiet(runtime.predictors.get(name)!, 1), quiet(p, 1), `${name} as measured again`);
  });
});

/** `count` arrivals at `qps`, exponential gaps, each of a model drawn uniformly (seeded). */
function poissonArrivals(models: readonly string[], qps: number, count: number, seed: number) {
  const random = seededRandom(seed);
  let atMs = 0;
  return Array.from({ length: count }, () => {
    atMs += (-Math.log(1 - random()) / qps) * 1000;
    return { model: models[Math.floor(random() * models.length)], atMs };
  });
}
