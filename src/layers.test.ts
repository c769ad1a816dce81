import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

/** The repository root, from dist/. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function layerErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: ROOT }).lintText(source, { filePath });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the layer order (eslint.config.js)', () => {
  it('fails an import of a folder above the importing one, nested files included', async () => {
    const upward = "import { VeltairServer } from '../server/index.js';\nexport const s = VeltairServer;\n";
    const [message] = await layerErrors('src/onnx/upward.ts', upward);
    assert.match(message ?? '', /src\/onnx sits below src\/server/);
    const nested = "import { EngineCore } from '../../engine/index.js';\nexport const e = EngineCore;\n";
    assert.equal((await layerErrors('src/sched/policies/upward.ts', nested)).length, 1);
  });

  it('keeps src/profile pure: no I/O and no ONNX Runtime, while its tests may use node:test', async () => {
    const io = "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n";
    const [message] = await layerErrors('src/profile/io.ts', io);
    assert.match(message ?? '', /src\/profile is pure/);
    const ort = "import * as ort from 'onnxruntime-node';\nexport const o = ort;\n";
    assert.equal((await layerErrors('src/profile/ort.ts', ort)).length, 1);
    const test =
      "import assert from 'node:assert/strict';\nimport { it } from 'node:test';\nexport { assert, it };\n";
    assert.deepEqual(await layerErrors('src/profile/x.test.ts', test), []);
  });

  it('lets a folder import the folders below it', async () => {
    const downward = "import { loadModel } from '../onnx/index.js';\nexport const l = loadModel;\n";
    assert.deepEqual(await layerErrors('src/server/downward.ts', downward), []);
  });
});
