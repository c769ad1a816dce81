import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dominatedBy, paretoPrune, type ParetoOptions } from './pareto.js';
import type { VersionProfile } from '../profile/index.js';

const opts: ParetoOptions = {
  coreCounts: [1, 2],
  levels: [0, 1],
  latencyTolerance: 0.05,
  pressureTolerance: 0.03,
};

/** A version: solo latency on 1 and 2 cores, slowdown at the top level, pressure. */
function v(version: string, solo: [number, number], slowdownTop = 1, pressure = 0): VersionProfile {
  return { version, soloUs: solo, slowdown: [1, slowdownTop], pressure };
}

const kept = (vs: VersionProfile[]) => paretoPrune(vs, opts).map((x) => x.version);

describe('Pareto pruning of versions', () => {
  it('a version worse on every axis than another is dropped', () => {
    assert.deepEqual(kept([v('all', [100, 60]), v('extended', [150, 90], 1.2, 0.1)]), ['all']);
  });

  it('the fastest alone and the fastest under interference are both kept, each saying why', () => {
    const out = paretoPrune([v('all', [100, 60], 1.8), v('extended', [130, 80], 1.05)], opts);
    assert.deepEqual(
      out.map((x) => x.version),
      ['all', 'extended'],
    );
    assert.match(out[0].why ?? '', /fastest alone on 1 core/);
    assert.match(out[1].why ?? '', /fastest at interference 1/);
  });

  it('versions that differ only within measurement noise keep the preferred one', () => {
    assert.deepEqual(kept([v('extended', [101, 61]), v('all', [100, 60])]), ['all']);
  });

  it('a spinning version is kept only where it is clearly faster somewhere', () => {
    assert.deepEqual(kept([v('all', [100, 60]), v('all+spin', [99, 59])]), ['all']);
    const out = kept([v('all', [100, 60]), v('all+spin', [99, 40])]);
    assert.deepEqual(out, ['all', 'all+spin']);
  });

  it('a version exerting clearly less pressure is kept even when slower', () => {
    assert.deepEqual(kept([v('all', [100, 60], 1, 0.5), v('extended', [110, 66], 1, 0.1)]), [
      'all',
      'extended',
    ]);
  });

  it('each dropped version keeps its numbers and names the kept version that beats it', () => {
    const candidates = [v('all', [100, 60]), v('extended', [150, 90], 1.2, 0.1), v('all+spin', [99, 59])];
    const survivors = paretoPrune(candidates, opts);
    const dropped = dominatedBy(candidates, survivors, opts);
    assert.deepEqual(
      dropped.map((x) => [x.version, x.soloUs, x.why]),
      [
        ['extended', [150, 90], 'dominated by all'],
        ['all+spin', [99, 59], 'dominated by all'],
      ],
    );
  });

  it('never returns nothing', () => {
    assert.equal(kept([v('all', [100, 60])]).length, 1);
    assert.deepEqual(kept([]), []);
  });
});
