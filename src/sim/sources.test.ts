import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ProfilePredictor } from '../profile/index.js';
import { discoverLayers } from '../partition/index.js';
import { syntheticProfile, uniformLayers } from '../sched/testing.js';
import { ZOO_FAMILIES, buildZooModel } from '../zoo/index.js';
import { readCalibration } from './calibration.js';
import { heldOutErrors } from './scaling.js';
import { macsOf } from './shapes.js';
import {
  calibrationProfiles,
  DEFAULT_VERSION_RULES,
  FITTED_MODELS,
  loadProfileSource,
  readProfileFile,
  versionRulesFromLocal,
} from './sources.js';

describe('calibration profiles', () => {
  const profiles = calibrationProfiles();
  const byName = new Map(profiles.map((p) => [p.model, p]));

  it('carry ResNet-50 as measured: the measured version equals the CSV rows', () => {
    const measured = readCalibration().filter((m) => m.model === 'ResNet50');
    const resnet = byName.get('resnet50');
    assert.ok(resnet);
    assert.equal(resnet.layers.length, measured.length);
    const all = resnet.layers[0].versions.find((v) => v.version === 'all');
    assert.deepEqual(all?.soloUs, measured[0].latencyUs);
  });

  it('give every zoo family a profile, fitted ones marked as fitted', () => {
    assert.deepEqual(
      profiles.map((p) => p.model),
      ZOO_FAMILIES.map((f) => f.name),
    );
    for (const m of FITTED_MODELS) assert.match(byName.get(m)?.source ?? '', /^fitted:/, m);
    assert.match(byName.get('googlenet')?.source ?? '', /^calibration:/);
  });

  it('make the derived version slower alone but less fragile under interference', () => {
    const resnet = byName.get('resnet50');
    assert.ok(resnet);
    const pred = new ProfilePredictor(resnet);
    const at = (v: string, level: number) => pred.blockUs(0, pred.layerCount, v, 32, level);
    assert.ok(at('all', 0) < at('extended', 0));
    assert.ok(at('all', 1) > at('extended', 1));
  });
});

describe('scaling model', () => {
  it('predicts held-out measured layers within the documented error', () => {
    const errors = heldOutErrors(readCalibration());
    const fold = errors.find((e) => e.split.startsWith('5-fold'));
    assert.ok(fold && fold.meanRelError < 0.2, `5-fold mean error ${fold?.meanRelError}`);
    for (const e of errors) assert.ok(e.meanRelError < 0.3, `${e.split}: ${e.meanRelError}`);
  });
});

describe('layer shapes of the fitted families', () => {
  for (const family of ZOO_FAMILIES) {
    const data = family.simulator;
    if (!('layerShapes' in data)) continue;
    it(`${family.name}: match its zoo graph layer by layer (MACs, in order)`, () => {
      const layers = discoverLayers(buildZooModel(family.name).model);
      assert.deepEqual(
        data.layerShapes().map(macsOf),
        layers.map((l) => l.macs),
      );
    });
  }
});

describe('local profiles', () => {
  const local = syntheticProfile('cnn', uniformLayers(3, 1000, 0.9));

  it('give version ratios measured by the compiler', () => {
    const rules = versionRulesFromLocal([local]);
    assert.ok(rules);
    const robust = rules.find((r) => r.version === 'robust');
    assert.ok(robust && Math.abs(robust.soloRatio - 1.2) < 1e-9, `ratio ${robust?.soloRatio}`);
    assert.ok(robust.sensitivity < DEFAULT_VERSION_RULES[0].sensitivity);
    assert.equal(rules[0].version, 'fast');
  });

  it('count the numbers of versions the compiler pruned, on every layer', () => {
    const pruned = structuredClone(local);
    // `robust` kept on one layer only; on the others its numbers sit in `dominated`.
    for (const layer of pruned.layers.slice(1)) {
      layer.dominated = layer.versions.filter((v) => v.version === 'robust');
      layer.versions = layer.versions.filter((v) => v.version !== 'robust');
    }
    const robust = versionRulesFromLocal([pruned])?.find((r) => r.version === 'robust');
    assert.ok(robust);
    assert.match(robust.why ?? '', /\(3 layers\)/);
    assert.ok(Math.abs(robust.soloRatio - 1.2) < 1e-9, `ratio ${robust.soloRatio}`);
  });

  it('are read from a model repository, and a bad file is named with its field', () => {
    const repo = mkdtempSync(join(tmpdir(), 'veltair-sim-'));
    mkdirSync(join(repo, 'cnn', '1'), { recursive: true });
    writeFileSync(join(repo, 'cnn', '1', 'profile.json'), JSON.stringify(local));
    const source = loadProfileSource('local', repo);
    assert.deepEqual(
      source.profiles.map((p) => p.model),
      ['cnn'],
    );
    const calibrated = loadProfileSource('threadripper-3990x', repo);
    assert.ok(calibrated.notes.some((n) => n.includes('ASSUMED to relate on 64 cores')));

    const bad = join(repo, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ ...local, layers: [{ ...local.layers[0], versions: [{ version: 'x' }] }] }),
    );
    assert.throws(() => readProfileFile(bad), {
      code: 'profile_unavailable',
      message: /layers\[0\]\.versions\[0\]\.soloUs/,
    });
    assert.throws(() => loadProfileSource('local', join(repo, 'none')), { code: 'profile_unavailable' });
  });
});
