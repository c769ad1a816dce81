import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SharedMemoryRegistry } from './shared-memory.js';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

describe('system shared memory regions', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'veltair-shm-'));
    await writeFile(join(root, 'obj'), Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await writeFile(join(tmpdir(), 'veltair-shm-outside'), 'secret');
    await symlink(join(tmpdir(), 'veltair-shm-outside'), join(root, 'link'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(join(tmpdir(), 'veltair-shm-outside'), { force: true });
  });

  it('registers, reports and unregisters regions, reading and writing inside them', () => {
    const shm = new SharedMemoryRegistry(true, root);
    shm.register('a', { key: '/obj', offset: 2, byte_size: 6 });
    shm.register('b', { key: 'obj', byte_size: 10 });
    assert.deepEqual(shm.status('a'), [{ name: 'a', key: '/obj', offset: 2, byte_size: 6 }]);
    assert.equal(shm.status().length, 2);
    const place = shm.placeOf('input x', {
      shared_memory_region: 'a',
      shared_memory_offset: 1,
      shared_memory_byte_size: 3,
    });
    assert.deepEqual(place, { region: 'a', offset: 1, byteSize: 3 });
    assert.deepEqual([...shm.read(place!)], [3, 4, 5], 'the object at region offset + tensor offset');
    shm.write(place!, Uint8Array.from([30, 40]), 'output y');
    assert.deepEqual(
      [...shm.read({ region: 'b', offset: 0, byteSize: 10 })],
      [0, 1, 2, 30, 40, 5, 6, 7, 8, 9],
    );
    assert.equal(shm.placeOf('input z', { binary_data_size: 4 }), undefined, 'no shared memory named');
    shm.unregister('a');
    assert.deepEqual(
      shm.status().map((r) => r.name),
      ['b'],
    );
    shm.unregister();
    assert.deepEqual(shm.status(), []);
  });

  it('refuses keys outside the shared memory folder, links, missing objects and extents past their end', () => {
    const shm = new SharedMemoryRegistry(true, root);
    for (const key of ['/../obj', 'a/b', '..', '', '/']) {
      assert.throws(() => shm.register('r', { key, byte_size: 1 }), code('invalid_shared_memory'), key);
    }
    assert.throws(() => shm.register('r', { key: '/link', byte_size: 1 }), /it is a link/);
    assert.throws(() => shm.register('r', { key: '/missing', byte_size: 1 }), /does not exist/);
    assert.throws(
      () => shm.register('r', { key: '/obj', offset: 4, byte_size: 7 }),
      /reaches past the 10 bytes/,
    );
    assert.throws(() => shm.register('r', { key: '/obj', byte_size: -1 }), code('invalid_shared_memory'));
    assert.throws(() => shm.register('a b', { key: '/obj', byte_size: 1 }), /not a region name/);
    shm.register('r', { key: '/obj', byte_size: 4 });
    assert.throws(() => shm.register('r', { key: '/obj', byte_size: 4 }), /already registered/);
    assert.equal(shm.status().length, 1, 'a refused registration leaves nothing behind');
    shm.close();
  });

  it("checks a tensor's place against its region", () => {
    const shm = new SharedMemoryRegistry(true, root);
    shm.register('r', { key: '/obj', byte_size: 8 });
    assert.throws(() => shm.placeOf('input x', { shared_memory_region: 'r' }), /go together/);
    assert.throws(() => shm.placeOf('input x', { shared_memory_byte_size: 4 }), /go together/);
    assert.throws(
      () =>
        shm.placeOf('input x', {
          shared_memory_region: 'r',
          shared_memory_offset: 6,
          shared_memory_byte_size: 4,
        }),
      /reach past region 'r' \(8 bytes\)/,
    );
    assert.throws(
      () => shm.placeOf('input x', { shared_memory_region: 'nope', shared_memory_byte_size: 1 }),
      code('unknown_region'),
    );
    assert.throws(
      () => shm.write({ region: 'r', offset: 0, byteSize: 2 }, Uint8Array.from([1, 2, 3]), 'output y'),
      /3 bytes do not fit the 2 bytes/,
    );
    shm.close();
  });

  it('takes no region from clients unless the server allows it', () => {
    const shm = new SharedMemoryRegistry(false, root);
    assert.throws(() => shm.register('r', { key: '/obj', byte_size: 1 }), code('shared_memory_disabled'));
    assert.throws(
      () => shm.placeOf('input x', { shared_memory_region: 'r', shared_memory_byte_size: 1 }),
      code('shared_memory_disabled'),
    );
    assert.deepEqual(shm.status(), []);
  });
});
