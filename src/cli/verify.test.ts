import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, encodeModel, makeModel, saveModel } from '../onnx/index.js';
import { rateSwitchModel, residualModel, symbolicModel } from '../partition/fixtures.js';
import { veltair } from './testing.js';

const dir = await mkdtemp(join(tmpdir(), 'veltair-verify-'));

test('verify --json prints one JSON document with the agreed fields and exits 0', async () => {
  const path = join(dir, 'residual.onnx');
  await saveModel(residualModel().model, path);
  const r = await veltair('verify', path, '--json', '--granularity', '2');
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.model, path);
  assert.equal(doc.layers, 4);
  assert.equal(doc.blocks, 2);
  assert.equal(doc.ok, true);
  assert.ok(doc.maxAbsDiff <= 1e-5 && doc.maxRelDiff <= 1e-3);
});

test('verify resolves symbolic dims from --shape and prints a readable report', async () => {
  const path = join(dir, 'symbolic.onnx');
  await saveModel(symbolicModel().model, path);
  const r = await veltair('verify', path, '--shape', 'x:5,8', '--threads', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /layers: +2/);
  assert.match(r.stdout, /OK: block by block equals whole/);
});

const broken: [string, () => Promise<Uint8Array | null>, RegExp][] = [
  ['an empty file', async () => new Uint8Array(0), /file is empty/],
  [
    'random bytes',
    async () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251),
    /not an ONNX model/,
  ],
  [
    'a truncated model',
    async () => (await readFile(join(dir, 'residual.onnx'))).subarray(0, 1500),
    /not an ONNX model|cannot load/,
  ],
  ['a missing file', async () => null, /no such file/],
  [
    'an operator ONNX Runtime does not know',
    async () => {
      const b = new GraphBuilder('bad');
      b.output(b.op('NoSuchOp', [b.input('x', [2])]), [2]);
      return encodeModel(makeModel(b.build(), 13));
    },
    /ONNX Runtime cannot load it/,
  ],
];

for (const [what, bytes, message] of broken) {
  test(`verify on ${what} names the file and the problem in one line and exits 1`, async () => {
    const path = join(dir, `${what.replace(/ /g, '_')}.onnx`);
    const content = await bytes();
    if (content) await writeFile(path, content);
    const r = await veltair('verify', path);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0].includes(path), lines[0]);
    assert.match(lines[0], message);
    assert.equal(r.stdout, '');
  });
}

test('verify --json on a broken file still prints one JSON document saying why', async () => {
  const path = join(dir, 'nothing-here.onnx');
  const r = await veltair('verify', path, '--json');
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.ok, false);
  assert.match(doc.error, /no such file/);
});

test('verify cuts an If a pinned input decides into the layers of the branch it takes', async () => {
  const path = join(dir, 'rate_switch.onnx');
  await saveModel(rateSwitchModel().model, path);
  const r = await veltair('verify', path, '--pin', 'rate=16000', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true);
  assert.equal(report.layers, 4);
  assert.deepEqual(report.specialized, [{ node: 'if', branch: 'then_branch' }]);
  const bad = await veltair('verify', path, '--pin', 'rate=fast');
  assert.equal(bad.code, 2, 'a pin that is not a number is a usage error');
});

test('verify refuses bad flags with a usage error', async () => {
  const path = join(dir, 'residual.onnx');
  for (const args of [
    ['--granularity', 'coarse'],
    ['--threads', '0'],
    ['--shape', 'x'],
    ['--shape', 'nope:1,2'],
  ]) {
    const r = await veltair('verify', path, ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
