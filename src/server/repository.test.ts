import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEASURING_PROTOCOL, machineFingerprint, machineKey } from '../compile/index.js';
import { GraphBuilder, encodeModel, makeModel, modelHash } from '../onnx/index.js';
import { ortVersion } from '../partition/index.js';
import { PROFILE_SCHEMA } from '../profile/index.js';
import { readRepositoryModel } from './repository.js';

describe('readRepositoryModel', () => {
  let repo: string;
  let bytes: Uint8Array;

  before(async () => {
    repo = await mkdtemp(join(tmpdir(), 'veltair-repository-'));
    const g = new GraphBuilder('relu', 1);
    g.output(g.op('Relu', [g.input('x', [1, 4])]), [1, 4]);
    bytes = encodeModel(makeModel(g.build(), 17));
    await mkdir(join(repo, 'relu', '1'), { recursive: true });
    await writeFile(join(repo, 'relu', '1', 'model.onnx'), bytes);
  });

  after(() => rm(repo, { recursive: true, force: true }));

  /** A profile of this file on this machine, measured the way of `protocol`. */
  const writeProfile = (protocol: number) =>
    writeFile(
      join(repo, 'relu', '1', 'profile.json'),
      JSON.stringify({
        schema: PROFILE_SCHEMA,
        model: 'relu',
        modelHash: modelHash(bytes),
        ortVersion: ortVersion(),
        compile: { machineKey: machineKey(machineFingerprint(), ortVersion()), protocol },
      }),
    );

  it("plans with this machine's profile of the file, measured the way this build measures", async () => {
    await writeProfile(MEASURING_PROTOCOL);
    assert.equal((await readRepositoryModel(repo, 'relu', 2)).profile, 'compiled');
  });

  it('serves the model as estimated when its profile was measured the way of an older protocol', async () => {
    await writeProfile(MEASURING_PROTOCOL - 1);
    const m = await readRepositoryModel(repo, 'relu', 2);
    assert.equal(m.state, 'READY');
    assert.equal(m.profile, 'estimated', 'an older protocol may describe another graph');
  });
});
