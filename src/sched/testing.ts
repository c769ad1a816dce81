/**
 * Fixture builders for policy tests (and for anyone replaying a recorded view): a small
 * synthetic profile, queries, running blocks and engine views with readable defaults.
 */
import { PROFILE_SCHEMA, ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import type { EngineView, PolicyContext, Query, Running } from './types.js';

/** One synthetic layer: its latency on 1 core, in us, and its parallel fraction (Amdahl). */
export interface SyntheticLayer {
  readonly oneCoreUs: number;
  readonly parallel: number;
}

export const SYNTHETIC_CORE_COUNTS = [1, 2, 4, 8, 16, 32, 64];
/** Interference levels of synthetic profiles. */
export const SYNTHETIC_LEVELS = [0, 1, 2];

/**
 * A profile with two versions per layer: `fast` (fastest alone, fragile: 1.6x at level 1,
 * 2.4x at level 2) and `robust` (20% slower alone, 1.05x / 1.15x under interference).
 */
export function syntheticProfile(model: string, layers: readonly SyntheticLayer[]): ModelProfileData {
  const solo = (l: SyntheticLayer, scale: number) =>
    SYNTHETIC_CORE_COUNTS.map((c) => scale * l.oneCoreUs * (1 - l.parallel + l.parallel / c));
  return {
    schema: PROFILE_SCHEMA,
    model,
    modelHash: `synthetic-${model}`,
    machine: { cpuModel: 'synthetic', usableCores: 64, cacheBytes: {} },
    ortVersion: 'none',
    source: 'synthetic',
    coreCounts: SYNTHETIC_CORE_COUNTS,
    levels: SYNTHETIC_LEVELS,
    layers: layers.map((l, index) => ({
      index,
      name: `layer${index}`,
      ops: ['Conv'],
      macs: 0,
      versions: [
        { version: 'fast', soloUs: solo(l, 1), slowdown: [1, 1.6, 2.4], pressure: 0.02 },
        { version: 'robust', soloUs: solo(l, 1.2), slowdown: [1, 1.05, 1.15], pressure: 0.01 },
      ],
    })),
  };
}

/** `n` identical layers. */
export function uniformLayers(n: number, oneCoreUs: number, parallel: number): SyntheticLayer[] {
  return Array.from({ length: n }, () => ({ oneCoreUs, parallel }));
}

/**
 * Two models used across the tests: `cnn` (8 layers: four that scale well, then four that
 * scale poorly; ~3 ms on 16 cores) and `tiny` (2 short layers).
 */
export function standardProfiles(): Record<string, ProfilePredictor> {
  const cnn = [...uniformLayers(4, 4000, 0.98), ...uniformLayers(4, 1000, 0.6)];
  return {
    cnn: new ProfilePredictor(syntheticProfile('cnn', cnn)),
    tiny: new ProfilePredictor(syntheticProfile('tiny', uniformLayers(2, 400, 0.9))),
  };
}

class QueryBuilder {
  private q: { -readonly [K in keyof Query]: Query[K] } = {
    id: 'q1',
    model: 'cnn',
    arrivalMs: 0,
    deadlineMs: 10,
    nextLayer: 0,
  };
  id(id: string): this {
    this.q.id = id;
    return this;
  }
  model(model: string): this {
    this.q.model = model;
    return this;
  }
  arrivalMs(ms: number): this {
    this.q.arrivalMs = ms;
    return this;
  }
  deadlineMs(ms: number): this {
    this.q.deadlineMs = ms;
    return this;
  }
  nextLayer(layer: number): this {
    this.q.nextLayer = layer;
    return this;
  }
  last(cores: number, version: string): this {
    this.q.lastCores = cores;
    this.q.lastVersion = version;
    return this;
  }
  build(): Query {
    return { ...this.q };
  }
}

/** `makeQuery().model('cnn').deadlineMs(15).build()` */
export function makeQuery(): QueryBuilder {
  return new QueryBuilder();
}

export function makeRunning(query: string, model: string, cores: number, expectedEndMs: number): Running {
  return { query, model, block: [0, 1], cores, version: 'fast', startMs: 0, expectedEndMs };
}

class ViewBuilder {
  private v = {
    nowMs: 0,
    totalCores: 64,
    freeCores: 64,
    waiting: [] as Query[],
    running: [] as Running[],
    interference: 0,
    recentConflictRate: 0,
    recentLoad: 0.5,
  };
  constructor(private readonly profiles: Record<string, ProfilePredictor>) {}
  nowMs(ms: number): this {
    this.v.nowMs = ms;
    return this;
  }
  cores(total: number, free = total): this {
    this.v.totalCores = total;
    this.v.freeCores = free;
    return this;
  }
  waiting(...queries: (Query | QueryBuilder)[]): this {
    this.v.waiting = queries.map((q) => (q instanceof QueryBuilder ? q.build() : q));
    return this;
  }
  running(...running: Running[]): this {
    this.v.running = running;
    return this;
  }
  interference(level: number): this {
    this.v.interference = level;
    return this;
  }
  conflictRate(rate: number): this {
    this.v.recentConflictRate = rate;
    return this;
  }
  load(load: number): this {
    this.v.recentLoad = load;
    return this;
  }
  build(): EngineView {
    const profiles = this.profiles;
    return {
      ...this.v,
      profile(model: string): ProfilePredictor {
        const p = profiles[model];
        if (!p) throw new Error(`no profile for ${model}`);
        return p;
      },
    };
  }
}

/** A view over `profiles` (default: `standardProfiles()`), 64 cores, all free, time 0. */
export function makeView(profiles: Record<string, ProfilePredictor> = standardProfiles()): ViewBuilder {
  return new ViewBuilder(profiles);
}

/** A policy context over the same profiles; weights equal, QoS 10 ms unless given. */
export function makeContext(
  profiles: Record<string, ProfilePredictor> = standardProfiles(),
  totalCores = 64,
  qosTargetMs: Record<string, number> = {},
): PolicyContext {
  const models = Object.keys(profiles);
  return {
    totalCores,
    modelWeights: Object.fromEntries(models.map((m) => [m, 1 / models.length])),
    qosTargetMs: Object.fromEntries(models.map((m) => [m, qosTargetMs[m] ?? 10])),
    profile: (model) => profiles[model],
  };
}
