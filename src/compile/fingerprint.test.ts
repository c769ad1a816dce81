import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheSizes, machineKey, parseCpuList, usableCores, type SysRoot } from './fingerprint.js';

function fakeSys(files: Record<string, string>, affinity = 8): SysRoot {
  return {
    read: (p) => files[p],
    list: (p) => [
      ...new Set(
        Object.keys(files)
          .filter((f) => f.startsWith(p + '/'))
          .map((f) => f.slice(p.length + 1).split('/')[0]),
      ),
    ],
    affinityCores: () => affinity,
    cpuModel: () => 'Test CPU',
  };
}

describe('usable cores', () => {
  it('a cgroup v2 quota of 1.5 CPUs leaves 1 core of 8', () => {
    const sys = fakeSys({
      '/proc/self/cgroup': '0::/job\n',
      '/sys/fs/cgroup/job/cpu.max': '150000 100000\n',
    });
    assert.equal(usableCores(sys), 1);
  });

  it('an unlimited v2 quota leaves the affinity mask', () => {
    const sys = fakeSys({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, 6);
    assert.equal(usableCores(sys), 6);
  });

  it('a cgroup v1 quota counts too', () => {
    const sys = fakeSys({
      '/proc/self/cgroup': '4:cpu,cpuacct:/\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(usableCores(sys), 2);
  });

  it('the allowed CPU list caps the count', () => {
    const sys = fakeSys({ '/proc/self/status': 'Name: node\nCpus_allowed_list:\t0-2,5\n' });
    assert.equal(usableCores(sys), 4);
    assert.equal(parseCpuList('0-3,8,10-11'), 7);
    assert.equal(parseCpuList('garbage'), 0);
  });
});

describe('machine fingerprint', () => {
  it('reads cache sizes by level and type', () => {
    const base = '/sys/devices/system/cpu/cpu0/cache';
    const sys = fakeSys({
      [`${base}/index0/level`]: '1',
      [`${base}/index0/type`]: 'Data',
      [`${base}/index0/size`]: '48K',
      [`${base}/index1/level`]: '1',
      [`${base}/index1/type`]: 'Instruction',
      [`${base}/index1/size`]: '32K',
      [`${base}/index3/level`]: '3',
      [`${base}/index3/type`]: 'Unified',
      [`${base}/index3/size`]: '32768K',
    });
    assert.deepEqual(cacheSizes(sys), { L1d: 48 * 1024, L1i: 32 * 1024, L3: 32 * 1024 * 1024 });
  });

  it('the key changes with cores, caches, CPU and ORT version, and only with them', () => {
    const m = { cpuModel: 'A', usableCores: 2, cacheBytes: { L3: 1, L2: 2 } };
    const k = machineKey(m, '1.30.0');
    assert.equal(machineKey({ ...m, cacheBytes: { L2: 2, L3: 1 } }, '1.30.0'), k);
    assert.notEqual(machineKey({ ...m, usableCores: 4 }, '1.30.0'), k);
    assert.notEqual(machineKey({ ...m, cacheBytes: { L3: 3, L2: 2 } }, '1.30.0'), k);
    assert.notEqual(machineKey({ ...m, cpuModel: 'B' }, '1.30.0'), k);
    assert.notEqual(machineKey(m, '1.31.0'), k);
  });
});
