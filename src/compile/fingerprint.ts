import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { createHash } from 'node:crypto';
import type { MachineFingerprint } from '../profile/index.js';

/** Where the machine's facts are read from; tests point it at a fake tree. */
export interface SysRoot {
  /** Reads a file, or undefined when it is missing or unreadable. */
  read(path: string): string | undefined;
  list(path: string): string[];
  /** Cores the affinity mask allows (os.availableParallelism is sched_getaffinity on Linux). */
  affinityCores(): number;
  cpuModel(): string;
}

export const hostSys: SysRoot = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  list(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  affinityCores: () => availableParallelism(),
  cpuModel: () => cpus()[0]?.model.trim() ?? 'unknown',
};

/**
 * Cores this process may really use: the affinity mask, capped by the cgroup CPU quota
 * (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), since a container often sees every host core but
 * may run on only a few of them.
 */
export function usableCores(sys: SysRoot = hostSys): number {
  let cores = Math.max(1, sys.affinityCores());
  const allowed = allowedCpus(sys.read('/proc/self/status') ?? '').length;
  if (allowed > 0) cores = Math.min(cores, allowed);
  const quota = cgroupQuotaCores(sys);
  if (quota !== undefined) cores = Math.min(cores, Math.max(1, Math.floor(quota)));
  return cores;
}

/** The CPUs this process's affinity mask allows, from `/proc/self/status` text; [] when unknown. */
export function allowedCpus(status: string): number[] {
  return expandCpuList(/Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1]);
}

/** `0-2,5` -> [0, 1, 2, 5]; [] when absent or malformed. */
export function expandCpuList(list: string | undefined): number[] {
  if (!list) return [];
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return [];
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) cpus.push(c);
  }
  return cpus;
}

/** Number of CPUs in a list like `0-3,8,10-11`; 0 when absent or malformed. */
export function parseCpuList(list: string | undefined): number {
  return expandCpuList(list).length;
}

/** The CPU quota in cores, or undefined when unlimited or unknown. */
function cgroupQuotaCores(sys: SysRoot): number | undefined {
  const lines = (sys.read('/proc/self/cgroup') ?? '').split('\n');
  const v2Path = lines.find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
  const v1Path = lines.find((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l))?.replace(/^\d+:[^:]*:/, '') ?? '/';
  // The process's own cgroup first, then the mount root (a namespaced container sees itself at /).
  for (const dir of unique([`/sys/fs/cgroup${trimSlash(v2Path)}`, '/sys/fs/cgroup'])) {
    const max = sys.read(`${dir}/cpu.max`)?.trim().split(/\s+/);
    if (max && max.length === 2) return max[0] === 'max' ? undefined : Number(max[0]) / Number(max[1]);
  }
  for (const dir of unique([`/sys/fs/cgroup/cpu${trimSlash(v1Path)}`, '/sys/fs/cgroup/cpu'])) {
    const quota = Number(sys.read(`${dir}/cpu.cfs_quota_us`));
    const period = Number(sys.read(`${dir}/cpu.cfs_period_us`));
    if (Number.isFinite(quota) && Number.isFinite(period) && period > 0) {
      return quota > 0 ? quota / period : undefined;
    }
  }
  return undefined;
}

function trimSlash(p: string): string {
  const t = p.trim();
  return t === '/' ? '' : t.replace(/\/$/, '');
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Cache sizes of cpu0 in bytes, keyed `L1d`, `L1i`, `L2`, `L3`. */
export function cacheSizes(sys: SysRoot = hostSys): Record<string, number> {
  const base = '/sys/devices/system/cpu/cpu0/cache';
  const sizes: Record<string, number> = {};
  for (const entry of sys
    .list(base)
    .filter((e) => e.startsWith('index'))
    .sort()) {
    const level = sys.read(`${base}/${entry}/level`)?.trim();
    const type = sys.read(`${base}/${entry}/type`)?.trim();
    const bytes = parseSize(sys.read(`${base}/${entry}/size`));
    if (!level || !type || bytes === undefined) continue;
    const suffix = type === 'Data' ? 'd' : type === 'Instruction' ? 'i' : '';
    sizes[`L${level}${suffix}`] = bytes;
  }
  return sizes;
}

function parseSize(text: string | undefined): number | undefined {
  const m = /^(\d+)\s*([KMG]?)/i.exec(text?.trim() ?? '');
  if (!m) return undefined;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

export function machineFingerprint(sys: SysRoot = hostSys): MachineFingerprint {
  return { cpuModel: sys.cpuModel(), usableCores: usableCores(sys), cacheBytes: cacheSizes(sys) };
}

/** Short stable id of a fingerprint and ORT version: part of a profile's cache key. */
export function machineKey(machine: MachineFingerprint, ortVersion: string): string {
  const cache = Object.keys(machine.cacheBytes)
    .sort()
    .map((k) => `${k}=${machine.cacheBytes[k]}`)
    .join(',');
  const text = `${machine.cpuModel}|${machine.usableCores}|${cache}|ort=${ortVersion}`;
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The last-level cache in bytes (32 MiB when the machine does not say). */
export function lastLevelCacheBytes(machine: MachineFingerprint): number {
  const levels = Object.entries(machine.cacheBytes).filter(([k]) => !k.endsWith('i'));
  if (levels.length === 0) return 32 * 1024 ** 2;
  return levels.sort((a, b) => a[0].localeCompare(b[0]))[levels.length - 1][1];
}
