/**
 * Triton's system shared memory extension: a client on the same machine registers a POSIX
 * shared memory object (a file of /dev/shm on Linux, what `shm_open(key)` opens) as a named
 * region, then names the region, an offset and a size in place of an input's bytes, or as the
 * place an output goes. The request then carries only its JSON header: a 600 KB image does not
 * cross the loopback socket, is not parsed out of a body, and costs the server one read.
 *
 * Node cannot map memory, so a region is held as an open file: an input is read from it when its
 * request is decoded (what a mapping would give: the bytes as they are at that moment), an output
 * written into it before the answer is sent. A region is opened once, when registered, without
 * following links, and must be a regular file that holds its whole extent; a key cannot name
 * anything outside the shared memory folder.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_MEMORY_ROOT } from '../load/index.js';
import { VeltairError } from '../errors/index.js';

/** A registered region, in the extension's status terms (REST and gRPC alike). */
export interface SharedMemoryRegion {
  readonly name: string;
  /** The shared memory object's key (`shm_open` name, e.g. `/input0`). */
  readonly key: string;
  /** Where the region starts in the object (bytes). */
  readonly offset: number;
  readonly byte_size: number;
}

/** Where a tensor's bytes are: a region, and an extent inside it. */
export interface SharedMemoryPlace {
  readonly region: string;
  readonly offset: number;
  readonly byteSize: number;
}

const REGION_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

interface OpenRegion extends SharedMemoryRegion {
  readonly fd: number;
}

export class SharedMemoryRegistry {
  private readonly regions = new Map<string, OpenRegion>();

  /**
   * @param allowed Whether clients may register regions (the server's `--allow-client-shm`): a
   *   registered region lets a client have the server read and write that object.
   */
  constructor(
    readonly allowed: boolean,
    private readonly root = SHARED_MEMORY_ROOT,
  ) {}

  /** Registers region `name` from a register request's body (`key`, `offset`, `byte_size`). */
  register(name: string, body: unknown): void {
    this.checkAllowed();
    if (!REGION_NAME.test(name)) {
      throw new VeltairError(
        'invalid_shared_memory',
        `'${name}' is not a region name (1-128 letters, digits, _, . and -)`,
      );
    }
    if (this.regions.has(name)) {
      throw new VeltairError('invalid_shared_memory', `region '${name}' is already registered`);
    }
    const { key, offset, byte_size: byteSize } = (body ?? {}) as Record<string, unknown>;
    if (typeof key !== 'string') throw new VeltairError('invalid_shared_memory', "'key' must be a string");
    const offsetBytes = byteCount('offset', offset ?? 0);
    const size = byteCount('byte_size', byteSize);
    const fd = this.openObject(key);
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile())
        throw new VeltairError('invalid_shared_memory', `'${key}' is not a shared memory object`);
      if (offsetBytes + size > stats.size) {
        throw new VeltairError(
          'invalid_shared_memory',
          `region '${name}' (offset ${offsetBytes}, ${size} bytes) reaches past the ${stats.size} bytes of '${key}'`,
        );
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.regions.set(name, { name, key, offset: offsetBytes, byte_size: size, fd });
  }

  /** Unregisters `name`, or every region when none is named. */
  unregister(name?: string): void {
    this.checkAllowed();
    const names = name === undefined ? [...this.regions.keys()] : [this.region(name).name];
    for (const n of names) {
      closeSync(this.region(n).fd);
      this.regions.delete(n);
    }
  }

  /** Every registered region, or the one named. */
  status(name?: string): SharedMemoryRegion[] {
    const regions = name === undefined ? [...this.regions.values()] : [this.region(name)];
    return regions.map(({ fd: _fd, ...status }) => status);
  }

  /**
   * The place that a tensor's `parameters` name (`shared_memory_region`, `shared_memory_byte_size`,
   * optional `shared_memory_offset`), checked against its region; undefined when they name none.
   */
  placeOf(what: string, parameters: unknown): SharedMemoryPlace | undefined {
    const p = (parameters ?? {}) as Record<string, unknown>;
    const region = p.shared_memory_region;
    const size = p.shared_memory_byte_size;
    if (region === undefined && size === undefined && p.shared_memory_offset === undefined) return undefined;
    this.checkAllowed();
    if (typeof region !== 'string' || size === undefined) {
      throw new VeltairError(
        'invalid_shared_memory',
        `${what}: shared_memory_region and shared_memory_byte_size go together`,
      );
    }
    const r = this.region(region);
    const offset = byteCount(`${what}: shared_memory_offset`, p.shared_memory_offset ?? 0);
    const byteSize = byteCount(`${what}: shared_memory_byte_size`, size);
    if (offset + byteSize > r.byte_size) {
      throw new VeltairError(
        'invalid_shared_memory',
        `${what}: offset ${offset} and ${byteSize} bytes reach past region '${region}' (${r.byte_size} bytes)`,
      );
    }
    return { region, offset, byteSize };
  }

  /** A place's bytes, in a buffer of their own. */
  read(place: SharedMemoryPlace): Uint8Array<ArrayBuffer> {
    const r = this.region(place.region);
    const out = new Uint8Array(place.byteSize);
    let done = 0;
    while (done < out.length) {
      const n = readSync(r.fd, out, done, out.length - done, r.offset + place.offset + done);
      if (n === 0) {
        throw new VeltairError(
          'invalid_shared_memory',
          `region '${place.region}' ends before its registered size ('${r.key}' shrank)`,
        );
      }
      done += n;
    }
    return out;
  }

  /** Writes `bytes` at a place (they must fit in it). */
  write(place: SharedMemoryPlace, bytes: Uint8Array, what: string): void {
    if (bytes.length > place.byteSize) {
      throw new VeltairError(
        'invalid_shared_memory',
        `${what}: ${bytes.length} bytes do not fit the ${place.byteSize} bytes given in region '${place.region}'`,
      );
    }
    const r = this.region(place.region);
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(r.fd, bytes, done, bytes.length - done, r.offset + place.offset + done);
    }
  }

  /** Closes every region (the server's shutdown). */
  close(): void {
    for (const r of this.regions.values()) closeSync(r.fd);
    this.regions.clear();
  }

  private region(name: string): OpenRegion {
    const r = this.regions.get(name);
    if (!r) throw new VeltairError('unknown_region', `no shared memory region '${name}' is registered`);
    return r;
  }

  private checkAllowed(): void {
    if (!this.allowed) {
      throw new VeltairError(
        'shared_memory_disabled',
        'this server does not take shared memory regions from clients (start it with --allow-client-shm)',
      );
    }
  }

  /** Opens the object `key` names (`/name` or `name`, one path component) for reading and writing. */
  private openObject(key: string): number {
    const name = key.startsWith('/') ? key.slice(1) : key;
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new VeltairError(
        'invalid_shared_memory',
        `'${key}' is not a shared memory key (one name, as shm_open takes it, e.g. /input0)`,
      );
    }
    try {
      return openSync(join(this.root, name), constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new VeltairError(
        'invalid_shared_memory',
        `cannot open shared memory object '${key}': ${code === 'ENOENT' ? 'it does not exist' : code === 'ELOOP' ? 'it is a link' : (err as Error).message}`,
      );
    }
  }
}

function byteCount(what: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new VeltairError('invalid_shared_memory', `${what} must be a non-negative integer of bytes`);
  }
  return value as number;
}
