import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyConvModel } from '../compile/testing.js';
import { PROFILE_SCHEMA, type ModelProfileData } from '../profile/index.js';
import { veltair } from './testing.js';

const repo = await mkdtemp(join(tmpdir(), 'veltair-compile-cli-'));
await mkdir(join(repo, 'tiny', '1'), { recursive: true });
await writeFile(join(repo, 'tiny', '1', 'model.onnx'), tinyConvModel(3));

test('compile --quick --json on a repository measures every layer with ORT and stores a profile', async () => {
  const r = await veltair('compile', repo, '--quick', '--json', '--no-priority');
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.models.length, 1);
  const m = doc.models[0];
  assert.equal(m.model, 'tiny');
  assert.equal(m.layers, 3);
  assert.equal(m.reused, false);
  const cores = Array.from({ length: doc.machine.usableCores }, (_, k) => String(k + 1));
  assert.deepEqual(Object.keys(m.soloUs), cores);
  assert.equal(m.quality.alone.n + m.quality.interfered.n > 0, true);
  const profile = JSON.parse(
    await readFile(join(repo, 'tiny', '1', 'profile.json'), 'utf8'),
  ) as ModelProfileData;
  assert.equal(profile.schema, PROFILE_SCHEMA);
  assert.equal(profile.layers.length, 3);
  assert.equal(profile.levels[0], 0);
  for (const layer of profile.layers) {
    assert.ok(layer.versions.length >= 1);
    for (const v of layer.versions) {
      assert.equal(v.soloUs.length, profile.coreCounts.length);
      assert.ok(v.soloUs.every((us) => us > 0));
      assert.ok(v.why);
    }
  }
  if (doc.machine.usableCores > 1) {
    assert.ok(m.quality.layersDuringCheck['2'] > 0, 'layers measured again on 2 cores during the check');
  }
  const again = await veltair('compile', repo, '--quick', '--json', '--no-priority');
  assert.equal(JSON.parse(again.stdout).models[0].reused, true);
});

test('compile on a missing path or with a bad flag value is a one-line error', async () => {
  const missing = await veltair('compile', join(repo, 'nope.onnx'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^veltair: model_invalid: .*nope\.onnx: no such file or directory\n$/);
  const badSeed = await veltair('compile', repo, '--seed', 'x');
  assert.equal(badSeed.code, 2);
  assert.match(badSeed.stderr, /--seed must be an integer/);
});
