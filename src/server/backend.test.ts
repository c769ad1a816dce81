import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { QOS_MULTIPLE } from '../load/index.js';
import { residualModel } from '../partition/fixtures.js';
import { ProfilePredictor, isolatedLatencyMs, type ModelProfileData } from '../profile/index.js';
import { liveModelSpec } from '../runtime/testing.js';
import { unprofiledModelSpec, processCpus } from '../runtime/index.js';
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
      const backend = await Backend.start(
        'veltair',
        policySpec('veltair').defaults,
        cpus,
        [
          { spec: compiled, weight: 1 },
          { spec: estimated, weight: 1 },
        ],
        () => {},
      );
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
