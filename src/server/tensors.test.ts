import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Datatype } from '../load/index.js';
import { SharedMemoryRegistry } from './shared-memory.js';
import { BinaryCursor, parseInputs, type TensorMetadata } from './tensors.js';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

function parseOne(datatype: Datatype, declared: number[], shape: number[], data: unknown) {
  const spec: TensorMetadata = { name: 'x', datatype, shape: declared };
  const sources = {
    binary: new BinaryCursor(new Uint8Array(0)),
    sharedMemory: new SharedMemoryRegistry(false),
  };
  return parseInputs('m', [spec], [{ name: 'x', datatype, shape, data }], sources).x!;
}

describe('JSON tensors', () => {
  const rows = [
    [
      [0.5, -1.25, 3],
      [4, 5.5, -6],
    ],
  ];

  it('reads nested data in row-major order, the same as flat data', () => {
    const nested = parseOne('FP32', [1, 2, 3], [1, 2, 3], rows);
    const flat = parseOne('FP32', [1, 2, 3], [1, 2, 3], rows.flat(2));
    assert.deepEqual(Array.from(nested.data as Float32Array), [0.5, -1.25, 3, 4, 5.5, -6]);
    assert.deepEqual(nested.data, flat.data);
    assert.deepEqual(nested.dims, [1, 2, 3]);
  });

  it('counts the elements against the shape, however the data is nested', () => {
    assert.throws(
      () =>
        parseOne(
          'FP32',
          [1, 2, 3],
          [1, 2, 3],
          [
            [
              [1, 2, 3],
              [4, 5],
            ],
          ],
        ),
      code('wrong_element_count'),
    );
    assert.throws(() => parseOne('FP32', [2, 2], [2, 2], [1, [2, 3], 4, 5]), /5 elements for shape \[2, 2\]/);
    assert.throws(
      () =>
        parseOne(
          'FP32',
          [2, 2],
          [2, 2],
          [
            [1, 2],
            [3, [4, 5]],
          ],
        ),
      /5 elements for shape \[2, 2\]/,
    );
  });

  it('refuses a shape larger than its data before allocating it', () => {
    assert.throws(
      () => parseOne('FP32', [-1, -1], [1_000_000, 1_000_000], [[1]]),
      code('wrong_element_count'),
    );
  });

  it('names the first element that is not of the datatype by its row-major index', () => {
    assert.throws(
      () =>
        parseOne(
          'FP32',
          [2, 2],
          [2, 2],
          [
            [1, 2],
            [3, 'x'],
          ],
        ),
      /element 3 \("x"\) is not a finite number/,
    );
    assert.throws(() => parseOne('FP32', [2], [2], [1, null]), /element 1 \(null\) is not a finite number/);
    assert.throws(
      () =>
        parseOne(
          'INT32',
          [2, 2],
          [2, 2],
          [
            [1, 2],
            [3.5, 4],
          ],
        ),
      /element 2 \(3.5\) is not an integer/,
    );
    assert.throws(() => parseOne('UINT8', [1], [1], [{}]), code('invalid_data'));
  });

  it('converts booleans, 64-bit integers and strings element by element', () => {
    assert.deepEqual(
      Array.from(parseOne('BOOL', [2, 1], [2, 1], [[true], [false]]).data as Uint8Array),
      [1, 0],
    );
    assert.deepEqual(parseOne('INT64', [3], [3], [1, -2, 3]).data, new BigInt64Array([1n, -2n, 3n]));
    assert.deepEqual(parseOne('BYTES', [1, 2], [1, 2], [['a', 'b']]).data, ['a', 'b']);
    assert.throws(() => parseOne('INT64', [2], [2], [1, 2.5]), /element 1 \(2.5\) is not an integer/);
    assert.throws(() => parseOne('BOOL', [2], [2], [true]), code('wrong_element_count'));
  });
});
