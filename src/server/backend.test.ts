import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { QOS_MULTIPLE } from '../load/index.js';
import { residualModel } from '../partition/fixtures.js';
import { ProfilePredictor, isolatedLatencyMs, type ModelProfileData } from '../profile/index.js';
import { liveModelSpec } from '../runtime/testing.js';
import * as ort from 'onnxruntime-node';
import { seededInputs } from '../partition/index.js';
import { RECENT_BLOCKS, operatingReport, unprofiledModelSpec, processCpus } from '../runtime/index.js';
import { Backend } from './backend.js';
import { policySpec } from '../sched/index.js';

/** `profile` with every latency `factor` times longer: a model the compile found slow. */
function slower(profile: ModelProfileData, factor: number): ModelProfileData {
  return {
    ...profile,
    source: 'compiled',
    layers: profile.layers.map((l) => ({
      ...l,
      versions: l.versions.map((v) => ({ ...v, soloUs: v.soloUs.map((us) => us * factor) })),
    })),
  };
}

describe('default QoS targets', () => {
  it("take the workloads' rule from the compiled profile, not from what the start measured", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'veltair-backend-'));
    const cpus = processCpus();
    try {
      const fixture = residualModel().model;
      const spec = await liveModelSpec(dir, 'residual', fixture);
      // The fixture runs in microseconds; its profile says 200x its synthetic 100 us a layer.
      const compiled = { ...spec, profile: slower(spec.profile, 200) };
      const estimated = unprofiledModelSpec('estimated', spec.path, fixture, cpus.length);
      const backend = await Backend.start({
        policy: 'veltair',
        params: policySpec('veltair').defaults,
        cpus,
        tenants: [
          { spec: compiled, weight: 1 },
          { spec: estimated, weight: 1 },
        ],
        onProgress: () => {},
      });
      try {
        const isolatedMs = isolatedLatencyMs(new ProfilePredictor(compiled.profile), cpus.length);
        assert.ok(isolatedMs > 10, 'the compiled profile puts the target above the 10 ms floor');
        assert.equal(backend.qosTargetMs.residual, Math.ceil(QOS_MULTIPLE * isolatedMs * 10) / 10);
        // A model served on an estimate has only its measured latency: microseconds, so the floor.
        assert.equal(backend.qosTargetMs.estimated, 10);
      } finally {
        await backend.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('what blocks cost in operation', () => {
  it('plans the units at what its own blocks cost once it has run enough of them, and serves on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'veltair-backend-'));
    const messages: string[] = [];
    try {
      const fixture = residualModel().model;
      const spec = await liveModelSpec(dir, 'residual', fixture);
      const backend = await Backend.start({
        policy: 'veltair',
        params: policySpec('veltair').defaults,
        cpus: processCpus(),
        tenants: [{ spec, weight: 1, qosTargetMs: 200 }],
        operatingBlocks: 100,
        onProgress: (m) => messages.push(m),
      });
      try {
        const runtime = backend.runtime;
        const measured = runtime.model('residual').measuredPredictor;
        const costNow = () => backend.operatingCost;
        assert.equal(costNow(), null, 'as measured until blocks have run');
        const feeds = seededInputs(fixture, { seed: 3 });
        const query = async () => {
          const own = Object.fromEntries(
            Object.entries(feeds).map(([n, t]) => [
              n,
              new ort.Tensor(t.type, (t.data as Float32Array).slice(), t.dims),
            ]),
          );
          return (await backend.service.infer('residual', own)).status;
        };
        const untilMs = Date.now() + 60_000;
        while (costNow() === null && Date.now() < untilMs) await Promise.all([query(), query()]);
        const cost = costNow();
        assert.ok(cost, 'a cost read from the blocks the engine ran');
        assert.deepEqual(runtime.report.operating, operatingReport(cost));
        const quiet = (p: ProfilePredictor, cpus: number) => p.predict(0, p.layerCount, cpus, 0).latencyUs;
        for (const [cpus, factor] of cost.scale) {
          const planned = quiet(runtime.model('residual').predictor, cpus);
          assert.ok(
            Math.abs(planned / quiet(measured, cpus) - factor) < 1e-6,
            `units on ${cpus} CPUs planned at x${factor}`,
          );
        }
        assert.ok(messages.some((m) => m.startsWith('planning units at what the last 100 blocks cost')));
        const after = await Promise.all(Array.from({ length: 20 }, query));
        assert.ok(
          after.every((s) => s === 'ok'),
          `served on: ${after.join(', ')}`,
        );
      } finally {
        await backend.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a look at more blocks than an engine keeps, before starting anything', async () => {
    await assert.rejects(
      Backend.start({
        policy: 'veltair',
        params: 'tuned',
        cpus: processCpus(),
        tenants: [],
        operatingBlocks: RECENT_BLOCKS + 1,
        onProgress: () => {},
      }),
      /operating blocks must be a whole number from 0 to 4096/,
    );
  });
});
