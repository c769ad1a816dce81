import assert from 'node:assert/strict';
import { describe, it, beforeEach } from 'node:test';
import { mkdtemp, mkdir, writeFile, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileModel, modelNameFor, oneCodeOnOneCore } from './compiler.js';
import { ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import { settingsFor, type CompileSettings } from './settings.js';
import { formatSummary, summarize } from './summary.js';
import { qualityPassesOf } from './quality.js';
import { MEASURING_PROTOCOL, partialPathFor } from './store.js';
import { DEFAULT_FAKE, FakeMeasurer, tinyConvModel } from './testing.js';
import { findModels } from './repository.js';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../onnx/index.js';
import { discoverLayers } from '../partition/index.js';
import { rateSwitchModel } from '../partition/fixtures.js';

let dir: string;
let modelPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'veltair-compile-'));
  modelPath = join(dir, 'tiny', '1', 'model.onnx');
  await mkdir(join(dir, 'tiny', '1'), { recursive: true });
  await writeFile(modelPath, tinyConvModel(3));
});

/** Index among the blocks `m` measured of the check's first: its last measurements are the check's. */
const firstHeldOut = (m: FakeMeasurer, s: CompileSettings) =>
  m.measured.length - (s.qualityBlocks + s.recheckLayers) * qualityPassesOf(s);

/** The held-out blocks of the check, in order: its layers measured again between passes left out. */
const heldOut = (m: FakeMeasurer, s: CompileSettings) =>
  m.measured.slice(firstHeldOut(m, s)).filter((b) => b.range[1] - b.range[0] > 1);

const quick = (measurer: FakeMeasurer, extra: object = {}) => ({
  mode: 'quick' as const,
  measurer,
  ...extra,
});

describe('profile cache', () => {
  it('a second compile with the same model, machine and ORT reuses the stored profile', async () => {
    const first = new FakeMeasurer();
    const built = await compileModel(modelPath, quick(first));
    assert.equal(built.reused, false);
    assert.equal(built.profilePath, join(dir, 'tiny', '1', 'profile.json'));
    const again = new FakeMeasurer();
    const reused = await compileModel(modelPath, quick(again));
    assert.equal(reused.reused, true);
    assert.deepEqual(again.calls, { calibrate: 0, measure: 0 });
    assert.equal(reused.profile.modelHash, built.profile.modelHash);
  });

  it('a changed model is rebuilt', async () => {
    await compileModel(modelPath, quick(new FakeMeasurer()));
    await writeFile(modelPath, tinyConvModel(3, 2));
    const m = new FakeMeasurer();
    const result = await compileModel(modelPath, quick(m));
    assert.equal(result.reused, false);
    assert.equal(result.rebuiltBecause, 'model changed');
    assert.ok(m.calls.measure > 0);
  });

  it('a changed machine (core count, CPU, caches) is rebuilt', async () => {
    await compileModel(modelPath, quick(new FakeMeasurer()));
    for (const machine of [{ usableCores: 4 }, { cpuModel: 'Other CPU' }, { cacheBytes: { L3: 1 << 20 } }]) {
      const result = await compileModel(modelPath, quick(new FakeMeasurer({ machine })));
      assert.equal(result.rebuiltBecause, 'machine changed', JSON.stringify(machine));
    }
  });

  it('a changed ONNX Runtime version is rebuilt', async () => {
    await compileModel(modelPath, quick(new FakeMeasurer()));
    const result = await compileModel(modelPath, quick(new FakeMeasurer({ ortVersion: '1.31.0' })));
    assert.match(result.rebuiltBecause ?? '', /ONNX Runtime changed/);
  });

  it('a quick profile does not satisfy a full compile, but a full one satisfies --quick', async () => {
    await compileModel(modelPath, quick(new FakeMeasurer()));
    const full = await compileModel(modelPath, { mode: 'full', measurer: new FakeMeasurer() });
    assert.equal(full.rebuiltBecause, 'stored profile is a --quick one');
    assert.equal(full.profile.compile?.mode, 'full');
    const q = await compileModel(modelPath, quick(new FakeMeasurer()));
    assert.equal(q.reused, true);
  });

  it('a profile measured under an older protocol is rebuilt', async () => {
    const built = await compileModel(modelPath, quick(new FakeMeasurer()));
    assert.equal(built.profile.compile?.protocol, MEASURING_PROTOCOL);
    const old = JSON.parse(await readFile(built.profilePath, 'utf8')) as ModelProfileData;
    delete old.compile!.protocol;
    await writeFile(built.profilePath, JSON.stringify(old));
    const result = await compileModel(modelPath, quick(new FakeMeasurer()));
    assert.match(result.rebuiltBecause ?? '', /protocol 1, now/);
  });

  it('--force rebuilds a matching profile', async () => {
    await compileModel(modelPath, quick(new FakeMeasurer()));
    const result = await compileModel(modelPath, quick(new FakeMeasurer(), { force: true }));
    assert.equal(result.rebuiltBecause, 'forced');
  });

  it('a corrupt profile file is rebuilt, not fatal', async () => {
    await writeFile(join(dir, 'tiny', '1', 'profile.json'), '{ not json');
    const result = await compileModel(modelPath, quick(new FakeMeasurer()));
    assert.equal(result.rebuiltBecause, 'no profile yet');
  });
});

describe('pinned inputs', () => {
  it('compile the branch of an If the pins take, record the pins, and rebuild when they change', async () => {
    const path = join(dir, 'rates', '1', 'model.onnx');
    await mkdir(join(dir, 'rates', '1'), { recursive: true });
    await writeFile(path, encodeModel(rateSwitchModel().model));
    const rate = (hz: number) =>
      new Map([['rate', new ort.Tensor('int64', BigInt64Array.from([BigInt(hz)]), [])]]);
    const measurer = new FakeMeasurer();
    const at16k = await compileModel(path, quick(measurer, { pins: rate(16000) }));
    assert.equal(discoverLayers(measurer.opened[0]).length, 4, 'the 16 kHz branch is measured');
    assert.deepEqual(at16k.profile.pins, { rate: [16000] });
    const again = await compileModel(path, quick(new FakeMeasurer(), { pins: rate(16000) }));
    assert.equal(again.reused, true);
    const at8k = await compileModel(path, quick(measurer, { pins: rate(8000) }));
    assert.equal(at8k.rebuiltBecause, 'pinned input values changed');
    assert.deepEqual(at8k.profile.pins, { rate: [8000] });
    assert.equal(discoverLayers(measurer.opened[1]).length, 2, 'the other branch is measured');
    await compileModel(path, quick(measurer));
    assert.equal(discoverLayers(measurer.opened[2]).length, 1, 'unpinned, the If is one layer');
  });
});

describe('resuming', () => {
  it('an interrupted compile resumes from the layers it had finished', async () => {
    const broken = new FakeMeasurer({ layers: 4, failAtLayer: 2 });
    await assert.rejects(compileModel(modelPath, quick(broken)), /interrupted/);
    const partial = JSON.parse(
      await readFile(partialPathFor(join(dir, 'tiny', '1', 'profile.json')), 'utf8'),
    );
    assert.equal(partial.layers.filter((l: unknown) => l !== null).length, 2);
    const m = new FakeMeasurer({ layers: 4 });
    const result = await compileModel(modelPath, quick(m));
    assert.equal(result.resumedLayers, 2);
    assert.equal(m.calls.calibrate, 0, 'levels come from the partial results');
    // Layers 2 and 3: a single-layer run each, and a pair run for layer 2; then one run per
    // held-out block, and the layers measured again after the check's pass.
    const { qualityBlocks, recheckLayers } = settingsFor('quick', 2);
    assert.equal(m.calls.measure, 3 + qualityBlocks + recheckLayers);
    assert.equal(result.profile.layers.length, 4);
    await assert.rejects(stat(partialPathFor(result.profilePath)), /ENOENT/);
  });

  it('partial results under another key are not resumed', async () => {
    await assert.rejects(compileModel(modelPath, quick(new FakeMeasurer({ layers: 4, failAtLayer: 2 }))));
    const m = new FakeMeasurer({ layers: 4, machine: { usableCores: 4 } });
    const result = await compileModel(modelPath, quick(m));
    assert.equal(result.resumedLayers, 0);
  });
});

describe('compiled profile', () => {
  it('splits each layer into in-block latency and the cost of running a block as a session', async () => {
    const result = await compileModel(modelPath, quick(new FakeMeasurer({ layers: 5 })));
    const p = new ProfilePredictor(result.profile);
    // The fake: layer k costs 100 (k + 1) us on one core with `all`; a run costs 30 us plus
    // 100 us per MiB crossing the block's boundary (k + 1 MiB into layer k; 2 MiB from 0 to 2).
    const near = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) < 0.03 * expected, `${actual} vs ${expected}`);
    near(p.blockUs(0, 5, 'all', 1, 0), 100 + 200 + 300 + 400 + 500 + 30 + 100 * (1 + 6));
    near(p.blockUs(1, 3, 'all', 1, 0), 200 + 300 + 30 + 100 * (2 + 2 + 4));
    near(p.blockUs(3, 4, 'all', 1, 0), 400 + 30 + 100 * (4 + 5));
    assert.ok(Math.abs(result.profile.runCost!.all.callUs[0] - 30) < 3);
  });

  it('on one core a spinning version and its sibling are one code measured twice: both take the faster', () => {
    const runs = (us: number) => [us, us * 1.01, us * 0.99];
    const version = (id: string, oneCoreUs: number, twoCoresUs: number) => ({
      version: id,
      soloUs: [runs(oneCoreUs), runs(twoCoresUs)],
      levelUs: [runs(oneCoreUs)],
      pressure: 0,
    });
    const measured = {
      versions: [
        version('all', 1683, 500),
        version('extended', 465, 400),
        version('all+spin', 756, 380),
        version('extended+spin', 470, 390),
      ],
    };
    const one = (id: string, c: number) =>
      oneCodeOnOneCore(measured, [1, 2]).versions.find((v) => v.version === id)!.soloUs[c][0];
    assert.equal(one('all', 0), 756, "the slow session of `all` takes its spinning twin's runs");
    assert.equal(one('all+spin', 0), 756);
    assert.equal(one('extended', 0), 465);
    assert.equal(one('extended+spin', 0), 465, 'either way round');
    assert.equal(one('all', 1), 500, 'two cores are two codes: a pool that spins or not');
    assert.equal(one('all+spin', 1), 380);
    assert.deepEqual(oneCodeOnOneCore(measured, [2, 4]), measured, 'no one-core column, nothing to share');
  });

  it("a layer whose `all` session ran slow on one core is profiled at its spinning twin's speed, pair included", async () => {
    const slow = new FakeMeasurer({ layers: 4, slowSession: { layer: 1, version: 'all', factor: 3 } });
    const p = new ProfilePredictor((await compileModel(modelPath, quick(slow))).profile);
    const plain = new FakeMeasurer({ layers: 4 });
    const truth = new ProfilePredictor(
      (await compileModel(modelPath, quick(plain, { force: true }))).profile,
    );
    for (const [i, j] of [
      [1, 2],
      [1, 3],
      [0, 4],
    ]) {
      const us = p.blockUs(i, j, 'all', 1, 0);
      const expected = truth.blockUs(i, j, 'all', 1, 0);
      assert.ok(Math.abs(us / expected - 1) < 0.02, `[${i}, ${j}): ${us} vs ${expected}`);
    }
  });

  it('a layer runs no faster in a block on 2 cores than at half its 1-core in-block latency', async () => {
    // Blocks starting at layer 2 ran 3x slow on 2 cores: layer 1's end cost, L(1) + L(2) - L([1, 3)),
    // would take all but the 10 % floor of layer 1's run, leaving a tenth in the block.
    const slow = new FakeMeasurer({
      layers: 5,
      latency: { ...DEFAULT_FAKE, layerUs: (k) => 2000 * (k + 1) },
      slowSession: { layer: 2, version: 'all', factor: 3, cores: 2 },
    });
    const p = new ProfilePredictor((await compileModel(modelPath, quick(slow))).profile);
    for (let k = 0; k < 5; k++) {
      const oneCore = p.layerUs(k, 'all', 1, 0);
      assert.ok(
        p.layerUs(k, 'all', 2, 0) >= oneCore / 2 - 0.1,
        `layer ${k}: ${p.layerUs(k, 'all', 2, 0)} vs ${oneCore}`,
      );
    }
  });

  it('keeps the version robust to interference where the fastest alone is fragile, and says why', async () => {
    const result = await compileModel(modelPath, quick(new FakeMeasurer({ layers: 2 })));
    const versions = result.profile.layers[0].versions.map((v) => v.version);
    assert.ok(versions.includes('all'), versions.join());
    assert.ok(versions.includes('extended'), versions.join());
    for (const v of result.profile.layers[0].versions) assert.ok(v.why && v.why.length > 0);
    const top = result.profile.levels[result.profile.levels.length - 1];
    const p = new ProfilePredictor(result.profile);
    assert.equal(p.predict(0, 2, 1, 0).version, 'all');
    assert.equal(p.predict(0, 2, 1, top).version, 'extended');
  });

  it('keeps the numbers of every version it prunes, naming the version that dominates it', async () => {
    const result = await compileModel(modelPath, quick(new FakeMeasurer({ layers: 3 })));
    const ids = settingsFor('quick', 2).plan.versions.map((v) => v.id);
    for (const layer of result.profile.layers) {
      const kept = layer.versions.map((v) => v.version);
      const dominated = (layer.dominated ?? []).map((v) => v.version);
      assert.deepEqual([...kept, ...dominated].sort(), [...ids].sort(), `layer ${layer.index}`);
      for (const v of layer.dominated ?? []) {
        const by = /^dominated by (.+)$/.exec(v.why ?? '')?.[1];
        assert.ok(by && kept.includes(by), `${v.version}: ${v.why}`);
        assert.equal(v.soloUs.length, result.profile.coreCounts.length);
      }
    }
    assert.ok(
      result.profile.layers.some((l) => (l.dominated ?? []).length > 0),
      'the fake has dominated versions',
    );
  });

  it('reports prediction quality on held-out blocks, alone and under interference', async () => {
    const result = await compileModel(modelPath, quick(new FakeMeasurer({ layers: 6 })));
    const q = result.profile.compile?.quality;
    assert.ok(q);
    const { qualityBlocks, plan } = settingsFor('quick', 2);
    // Every held-out block: alone on each measured core count, and at each level above 0.
    assert.equal(q.alone.n, qualityBlocks * plan.coreCounts.length);
    assert.equal(q.interfered.n, qualityBlocks * (result.profile.levels.length - 1));
    for (const s of q.samples) {
      assert.ok(s.range[1] - s.range[0] >= 2, 'held-out blocks span several layers');
      assert.ok(s.errorPct < 10, JSON.stringify(s));
    }
    assert.ok(q.samples.some((s) => s.level > 0));
  });

  it('measures every held-out block in every part of the check, pass after pass, sharing out the runs', async () => {
    const m = new FakeMeasurer({ layers: 6 });
    const settings = settingsFor('full', 2);
    await compileModel(modelPath, { mode: 'full', measurer: m, settings });
    const { qualityBlocks, qualityPasses, plan } = settings;
    const held = heldOut(m, settings);
    const ranges = (pass: number) =>
      held.slice(pass * qualityBlocks, (pass + 1) * qualityBlocks).map((b) => b.range);
    for (let p = 1; p < qualityPasses; p++)
      assert.deepEqual(ranges(p), ranges(0), `pass ${p + 1}: the same blocks in turn`);
    const runs = (b: number) =>
      held.filter((_, k) => k % qualityBlocks === b).reduce((a, x) => a + x.repetitions, 0);
    assert.equal(runs(0), plan.repetitions, 'each block as many runs in all as a layer');
  });

  it('a slow stretch of the machine during part of the check does not decide the held-out error', async () => {
    const settings = settingsFor('full', 2);
    const probe = new FakeMeasurer({ layers: 12 });
    await compileModel(modelPath, { mode: 'full', measurer: probe, settings });
    const checkStarts = firstHeldOut(probe, settings);
    // Slow for a third of the check: the first pass, or, measured in one pass, the first third of the blocks.
    const stretch = (passes: number) => ({
      from: checkStarts,
      to: checkStarts + settings.qualityBlocks / (passes === 1 ? 3 : 1),
      factor: 1.3,
    });
    const worst = async (passes: number) => {
      const m = new FakeMeasurer({ layers: 12, slowStretch: stretch(passes) });
      const s = { ...settings, qualityPasses: passes };
      const q = (await compileModel(modelPath, { mode: 'full', measurer: m, settings: s, force: true }))
        .profile.compile!.quality!;
      return Math.max(...q.samples.map((x) => x.errorPct));
    };
    assert.ok((await worst(3)) < 5, "in passes, a third of each block's runs were slow: the median holds");
    assert.ok((await worst(1)) > 15, 'in one pass, whole blocks ran slow (the test can fail)');
  });

  it('reports how the layers ran during the check against the profile, so that a machine that moved shows', async () => {
    const settings = settingsFor('full', 2);
    const probe = new FakeMeasurer({ layers: 8 });
    const steady = (await compileModel(modelPath, { mode: 'full', measurer: probe, settings })).profile
      .compile!.quality!;
    assert.ok(Math.abs(steady.layersDuringCheck!['2'] - 1) < 0.03, JSON.stringify(steady.layersDuringCheck));
    const checkStarts = firstHeldOut(probe, settings);
    const m = new FakeMeasurer({ layers: 8, slowStretch: { from: checkStarts, factor: 1.3, cores: 2 } });
    const profile = (await compileModel(modelPath, { mode: 'full', measurer: m, settings, force: true }))
      .profile;
    const moved = profile.compile!.quality!;
    assert.ok(Math.abs(moved.layersDuringCheck!['2'] - 1.3) < 0.03, JSON.stringify(moved.layersDuringCheck));
    const printed = formatSummary(summarize(profile), false).join('\n');
    assert.match(
      printed,
      /measured again during the check ran at their profiled latency times 1x on 1 core, 1\.3x on 2 cores/,
    );
  });

  it('measures a held-out block only in the versions predicted best there', async () => {
    const m = new FakeMeasurer({ layers: 6 });
    const q = (await compileModel(modelPath, quick(m))).profile.compile!.quality!;
    const all = settingsFor('quick', 2).plan.versions.map((v) => v.id);
    const spinning = (v: string) => v.endsWith('+spin');
    const same = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1];
    for (const s of q.samples) {
      const block = m.measured.findLast((b) => same(b.range, s.range))!;
      const predicted = q.samples.filter((x) => same(x.range, s.range)).map((x) => x.version);
      const expected = all.filter(
        (v) => predicted.includes(v) || predicted.some((p) => spinning(p) && p === `${v}+spin`),
      );
      assert.deepEqual(block.versions, expected, `[${s.range.join(', ')})`);
    }
  });

  it('calibrates again, seconds apart, while the generator barely shows, and keeps the levels it finds', async () => {
    const m = new FakeMeasurer({ hiddenCalibrations: 2 });
    const settings = { ...settingsFor('full', 2), calibrationPauseMs: 0 };
    const result = await compileModel(modelPath, { mode: 'full', measurer: m, settings });
    assert.equal(m.calls.calibrate, 3);
    assert.deepEqual(result.profile.levels, [0, 0.08, 0.24, 0.8]);

    const never = new FakeMeasurer({ hiddenCalibrations: 99 });
    await compileModel(modelPath, { mode: 'full', measurer: never, settings, force: true });
    assert.equal(never.calls.calibrate, settings.calibrationAttempts, 'gives up after its attempts');
  });

  it('is valid profile JSON with levels starting at 0 and one slowdown per level', async () => {
    const result = await compileModel(modelPath, quick(new FakeMeasurer()));
    const data = JSON.parse(await readFile(result.profilePath, 'utf8')) as ModelProfileData;
    assert.equal(data.schema, 'veltair.profile/1');
    assert.equal(data.model, 'tiny');
    assert.equal(data.levels[0], 0);
    for (const l of data.layers)
      for (const v of l.versions) assert.equal(v.slowdown.length, data.levels.length);
  });
});

describe('model paths', () => {
  it('names a repository model by its folder and a loose file by its stem', () => {
    assert.equal(modelNameFor('/r/resnet50/1/model.onnx'), 'resnet50');
    assert.equal(modelNameFor('/x/mobilenet.onnx'), 'mobilenet');
  });

  it('finds the highest version of every model in a repository', async () => {
    await mkdir(join(dir, 'tiny', '3'), { recursive: true });
    await writeFile(join(dir, 'tiny', '3', 'model.onnx'), tinyConvModel(2));
    await mkdir(join(dir, 'other', '1'), { recursive: true });
    await writeFile(join(dir, 'other', '1', 'model.onnx'), tinyConvModel(2));
    assert.deepEqual(await findModels(dir), [
      join(dir, 'other', '1', 'model.onnx'),
      join(dir, 'tiny', '3', 'model.onnx'),
    ]);
  });

  it('a folder without models is a one-line error', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'veltair-empty-'));
    await assert.rejects(findModels(empty), /not a model repository/);
    await assert.rejects(findModels(join(empty, 'nope')), /no such file or directory/);
  });
});
