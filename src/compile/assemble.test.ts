import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  MIN_STAGE_GAIN,
  STAGES,
  assembleProfile,
  eliminateStages,
  errorScore,
  heldOutError,
  stageEffects,
} from './assemble.js';
import type { ModelProfileData } from '../profile/index.js';
import { readRawCompile } from './raw.js';

const TESTDATA = (file: string) =>
  fileURLToPath(new URL(`../../src/compile/testdata/${file}`, import.meta.url));

/** A quick compile of the zoo's MobileNetV2 at 64x64: its raw measurements and the profile it wrote. */
const RECORDED_RAW = TESTDATA('mobilenetv2-64.raw.json');
const RECORDED_PROFILE = TESTDATA('mobilenetv2-64.profile.json');

describe('the stage table of docs/compiler.md', () => {
  it('lists every stage in order with the paragraph its module gives', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/compiler.md', import.meta.url)), 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => /^\| \d+ +\| `/.test(line))
      .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, '').trim()));
    assert.deepEqual(
      rows,
      STAGES.map((s, k) => [String(k + 1), `\`${s.name}\``, s.corrects]),
    );
  });
});

describe('replaying a recorded compile', () => {
  it('rebuilds the profile the compile wrote, number for number', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const recorded = JSON.parse(readFileSync(RECORDED_PROFILE, 'utf8')) as ModelProfileData;
    assert.deepEqual(JSON.parse(JSON.stringify(assembleProfile(raw))), recorded);
  });

  it("predicts the held-out blocks as the compile's own check did", async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const error = heldOutError([raw]);
    assert.equal(error.skipped, 0);
    assert.deepEqual(error.alone, raw.quality?.alone);
    assert.deepEqual(error.interfered, raw.quality?.interfered);
  });

  it('measures every stage added in turn and left out, and the full set equals the profile', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const effects = stageEffects([raw]);
    assert.deepEqual(
      effects.stages.map((s) => s.stage),
      STAGES.map((s) => s.name),
    );
    assert.deepEqual(effects.stages.at(-1)?.cumulative, effects.all);
    assert.deepEqual(effects.all.alone, raw.quality?.alone);
    for (const s of effects.stages) assert.ok(s.corrects.length > 80, `${s.stage} says what it corrects`);
  });

  it('gives a different profile when a stage is left out', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const all = JSON.stringify(assembleProfile(raw));
    for (const stage of STAGES) {
      const without = assembleProfile(
        raw,
        STAGES.filter((s) => s !== stage),
      );
      assert.notEqual(JSON.stringify(without), all, `${stage.name} changes the profile`);
    }
  });

  it('eliminates stages until each one left earns its place, removing one per round', async () => {
    const raw = await readRawCompile(RECORDED_RAW);
    const rounds = eliminateStages([raw]);
    const last = rounds.at(-1)!;
    assert.equal(last.removed, undefined);
    for (const w of last.without)
      assert.ok(w.score - last.score >= MIN_STAGE_GAIN, `${w.stage} earns its place`);
    rounds.slice(0, -1).forEach((round, k) => {
      assert.ok(round.removed, `round ${k + 1} removes a stage`);
      assert.deepEqual(
        rounds[k + 1].stages,
        round.stages.filter((s) => s !== round.removed),
      );
    });
    assert.equal(rounds[0].score, errorScore(heldOutError([raw])));
  });
});
