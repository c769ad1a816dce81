import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RemoteService, TRANSPORTS, referenceCases, runLive, type LiveScenario } from '../load/index.js';
import { encodeModel } from '../onnx/index.js';
import { branchModel, embeddingModel, residualModel } from '../partition/fixtures.js';
import { policySpec } from '../sched/index.js';
import { VeltairServer } from './server.js';

describe('bench --url: the live generator against a running server', () => {
  let repo: string;
  let server: VeltairServer;
  let cases: LiveScenario['cases'];

  before(async () => {
    repo = await mkdtemp(join(tmpdir(), 'veltair-remote-'));
    // The embedding model's input is int64 (as BERT's): JSON carries it as numbers.
    const models = {
      residual: residualModel().model,
      branch: branchModel().model,
      embedding: embeddingModel().model,
    };
    const specs: { name: string; path: string }[] = [];
    for (const [name, model] of Object.entries(models)) {
      await mkdir(join(repo, name, '1'), { recursive: true });
      const path = join(repo, name, '1', 'model.onnx');
      await writeFile(path, encodeModel(model));
      // Targets no scheduling delay on a loaded test machine can miss: this checks answers.
      await writeFile(join(repo, name, 'config.json'), JSON.stringify({ qosTargetMs: 5000 }));
      specs.push({ name, path });
    }
    cases = await referenceCases(specs, 2);
    // Parameters as given: what is checked here is the generator, and choosing them for models of
    // microseconds under targets of seconds takes the whole tuning budget.
    server = await VeltairServer.start({
      repository: repo,
      httpPort: 0,
      grpcPort: 0,
      policyParams: policySpec('veltair').defaults,
      allowClientShm: true,
    });
  });

  after(async () => {
    await server?.close();
    await rm(repo, { recursive: true, force: true });
  });

  for (const transport of TRANSPORTS) {
    it(`answers every query over ${transport} with the whole model's outputs, none lost or failed`, async () => {
      const service = await RemoteService.connect(
        server.url,
        transport,
        ['residual', 'branch', 'embedding'],
        server.grpcPort,
      );
      try {
        assert.deepEqual(service.qosTargetMs, { residual: 5000, branch: 5000, embedding: 5000 });
        const result = await runLive(
          service,
          {
            workload: 'test',
            weights: { residual: 0.4, branch: 0.3, embedding: 0.3 },
            qosTargetMs: service.qosTargetMs,
            queries: 60,
            seed: 3,
            cases,
            checkEvery: 1,
          },
          40,
        );
        assert.equal(result.checked, 60, 'every answer compared with a direct ORT run');
        const ended = result.perModel.reduce((n, m) => n + m.satisfied + m.rejected + m.failed, 0);
        assert.equal(ended, 60, 'each query ended exactly once');
        assert.deepEqual(
          result.perModel.map((m) => [m.model, m.failed, m.rejected]),
          [
            ['branch', 0, 0],
            ['embedding', 0, 0],
            ['residual', 0, 0],
          ],
        );
      } finally {
        await service.close();
      }
      assert.deepEqual(server.sharedMemory.status(), [], 'the client unregistered its regions');
      const left = (await readdir('/dev/shm')).filter((f) => f.startsWith(`veltair-bench-${process.pid}-`));
      assert.deepEqual(left, [], 'and removed its shared memory objects');
    });
  }
});
