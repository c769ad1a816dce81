import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { STAGES, assembleProfile, heldOutError, stageEffects } from './assemble.js';
import type { ModelProfileData } from './profile.js';
import { readRawCompile } from './raw.js';

const TESTDATA = (file: string) =>
  fileURLToPath(new URL(`../../src/compile/testdata/${file}`, import.meta.url));

/**
 * A quick compile of the zoo's MobileNetV2 at 64x64 on a 2-vCPU Xeon VM: its raw measurements
 * and the profile the compiler wrote from them before the assembly became stages.
 */
const RECORDED_RAW = TESTDATA('mobilenetv2-64.raw.json');
const RECORDED_PROFILE = TESTDATA('mobilenetv2-64.profile.json');

describe('replaying a recorded compile', () => {
  it('rebuilds the profile the compile wrote, number for number', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const recorded = JSON.parse(readFileSync(RECORDED_PROFILE, 'utf8')) as ModelProfileData;
    assert.deepEqual(JSON.parse(JSON.stringify(assembleProfile(raw))), recorded);
  });

  it("predicts the held-out blocks as the compile's own check did", async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const error = heldOutError(assembleProfile(raw), raw);
    assert.equal(error.skipped, 0);
    assert.deepEqual(error.alone, raw.quality?.alone);
    assert.deepEqual(error.interfered, raw.quality?.interfered);
  });

  it('measures every stage added in turn and left out, and the full set equals the profile', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const effects = stageEffects(raw);
    assert.deepEqual(
      effects.stages.map((s) => s.stage),
      STAGES.map((s) => s.name),
    );
    assert.deepEqual(effects.stages.at(-1)?.cumulative, effects.all);
    assert.deepEqual(effects.all.alone, raw.quality?.alone);
    for (const s of effects.stages) assert.ok(s.corrects.length > 80, `${s.stage} says what it corrects`);
  });

  it('gives a different profile when a stage that acts is left out', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const all = assembleProfile(raw);
    const withoutOverrides = assembleProfile(
      raw,
      STAGES.filter((s) => s.name !== 'block-overrides'),
    );
    assert.ok((all.blocks ?? []).length > 0, 'the recorded compile stores a block whole');
    assert.equal(withoutOverrides.blocks, undefined);
  });
});
