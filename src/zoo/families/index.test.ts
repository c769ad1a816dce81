import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelFamily } from '../family.js';
import { isVeltairError } from '../../errors/index.js';
import { FAMILIES, checkFamilies, discoverFamilies, isFamilyFile } from './index.js';

const [someFamily] = FAMILIES;

/** A copy of `family` without the field at `path` (dotted), as a family file that forgot it. */
function without(family: ModelFamily, path: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...family, published: { ...family.published } };
  const keys = path.split('.');
  const parent = keys.slice(0, -1).reduce((o, k) => o[k] as Record<string, unknown>, copy);
  delete parent[keys[keys.length - 1]];
  return copy;
}

const moduleOf = (family: unknown, file = `${someFamily.name}.js`) => ({ file, exports: { family } });

test('every family file of the folder is found, once, in list order', async () => {
  const folder = new URL('./', import.meta.url);
  const files = (await readdir(folder)).filter(isFamilyFile);
  assert.deepEqual(FAMILIES.map((f) => `${f.name}.js`).sort(), files.sort());
  const orders = FAMILIES.map((f) => f.listOrder);
  assert.deepEqual(
    orders,
    [...orders].sort((a, b) => a - b),
  );
});

test('a family missing a required field is refused, naming its file and the field', () => {
  const required = [
    'name',
    'listOrder',
    'description',
    'published',
    'published.parameters',
    'published.macs',
    'published.source',
    'inputs',
    'outputs',
    'qosTargetMs',
    'opset',
    'build',
    'simulator',
  ];
  for (const path of required) {
    assert.throws(
      () => checkFamilies([moduleOf(without(someFamily, path))]),
      (e: unknown) =>
        isVeltairError(e, 'zoo_family_invalid') &&
        e.message.startsWith(`zoo family ${someFamily.name}.js: '${path}`),
      path,
    );
  }
  assert.throws(
    () => checkFamilies([{ file: 'x.js', exports: { model: someFamily } }]),
    /x\.js: exports no 'family'/,
  );
});

test('a family is either measured by the calibration or fitted from its shapes, not both', () => {
  const both = { ...someFamily, simulator: { calibrationModel: 'X', layerShapes: () => [] } };
  const neither = { ...someFamily, simulator: {} };
  for (const family of [both, neither]) {
    assert.throws(() => checkFamilies([moduleOf(family)]), /'simulator' must be/);
  }
});

test('two families may not share a name or a place in the lists, and a file is named after its family', () => {
  const other = { ...someFamily, listOrder: someFamily.listOrder + 1 };
  assert.throws(
    () => checkFamilies([moduleOf(someFamily), moduleOf(other, 'copy.js')]),
    /families \S+ and copy\.js both have name/,
  );
  const sameOrder = { ...someFamily, name: 'other' };
  assert.throws(
    () => checkFamilies([moduleOf(someFamily), moduleOf(sameOrder, 'other.js')]),
    /both have listOrder/,
  );
  assert.throws(() => checkFamilies([moduleOf(someFamily, 'renamed.js')]), /file is named after it/);
});

test('discovery imports the family files of a folder but not its index and tests', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'veltair-families-'));
  try {
    const source = (name: string, order: number) =>
      `export const family = { name: '${name}', listOrder: ${order}, description: 'd', ` +
      `published: { parameters: 1, macs: 1, source: 's' }, inputs: [{ name: 'x', shape: [1] }], ` +
      `outputs: [{ name: 'y', shape: [1] }], qosTargetMs: null, opset: 13, build() {}, ` +
      `simulator: { calibrationModel: 'M' } };\n`;
    await writeFile(join(dir, 'second.js'), source('second', 20));
    await writeFile(join(dir, 'first.js'), source('first', 10));
    for (const skipped of ['index.js', 'first.test.js', 'first.d.ts', 'first.js.map'])
      await writeFile(join(dir, skipped), "throw new Error('not a family');\n");
    const folder = pathToFileURL(`${dir}/`);
    assert.deepEqual(
      (await discoverFamilies(folder)).map((f) => f.name),
      ['first', 'second'],
    );
    await writeFile(join(dir, 'third.js'), source('third', 30).replace(', build() {}', ''));
    await assert.rejects(discoverFamilies(folder), /zoo family third\.js: 'build' must be a function/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
