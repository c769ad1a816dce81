import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { veltair } from './testing.js';

test('zoo build prints one line per model and writes the repository', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'veltair-zoo-cli-'));
  try {
    const r = await veltair('zoo', 'build', '--out', dir, '--models', 'mobilenetv2', '--seed', '5');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^mobilenetv2 +3\.50 M params +0\.301 GMACs +13\.5 MiB +\S+model\.onnx$/);
    const config = JSON.parse(await readFile(join(dir, 'mobilenetv2', 'config.json'), 'utf8'));
    assert.equal(config.name, 'mobilenetv2');
    assert.equal(config.qosTargetMs, undefined, 'targets are set for the machine that serves the model');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('zoo build refuses unknown model names with exit 2, listing the known ones', async () => {
  const r = await veltair('zoo', 'build', '--models', 'resnet50,alexnet', '--out', join(tmpdir(), 'never'));
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr.trim(),
    'veltair: unknown_model: unknown model(s) alexnet; known: resnet50, resnet18, googlenet, mobilenetv2, efficientnet-b0, vgg19, tiny-yolov2, bert-base',
  );
});

test('zoo build refuses a bad --seq-len with exit 2', async () => {
  const r = await veltair('zoo', 'build', '--models', 'bert-base', '--seq-len', '0');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--seq-len must be an integer in \[1, 512\], got '0'/);
});

test('zoo list --json prints the model table as one JSON document', async () => {
  const r = await veltair('zoo', 'list', '--json');
  assert.equal(r.code, 0, r.stderr);
  const models = JSON.parse(r.stdout) as { name: string; qosTargetMs: number | null }[];
  assert.deepEqual(
    models.map((m) => [m.name, m.qosTargetMs]),
    [
      ['resnet50', 15],
      ['resnet18', null],
      ['googlenet', null],
      ['mobilenetv2', 10],
      ['efficientnet-b0', null],
      ['vgg19', null],
      ['tiny-yolov2', null],
      ['bert-base', 130],
    ],
  );
});
