/**
 * Fixture builders for engine, simulator and evaluation tests: profiles and policies whose
 * behaviour is known in closed form.
 */
import { PROFILE_SCHEMA, ProfilePredictor, type ModelProfileData } from '../profile/index.js';
import type { Decision, EngineView, Policy } from '../sched/index.js';

/**
 * A one-layer model on 1, 2 and 4 cores (`soloUs` on each), one version `v` that runs 1 + level
 * times slower (levels [0, 1]) and exerts `pressure` per core.
 */
export function scalingProfile(
  model: string,
  soloUs: readonly [number, number, number],
  pressure = 0,
): ModelProfileData {
  return {
    schema: PROFILE_SCHEMA,
    model,
    modelHash: `scaling-${model}-${soloUs.join('-')}`,
    machine: { cpuModel: 'synthetic', usableCores: 4, cacheBytes: {} },
    ortVersion: 'none',
    source: 'synthetic',
    coreCounts: [1, 2, 4],
    levels: [0, 1],
    layers: [
      {
        index: 0,
        name: 'l0',
        ops: ['Conv'],
        macs: 0,
        versions: [{ version: 'v', soloUs: [...soloUs], slowdown: [1, 2], pressure }],
      },
    ],
  };
}

/**
 * A model of `layers` layers of `layerUs` each, the same on any core count, with one version
 * `v` that neither suffers nor causes interference unless `slowdownAtOne` / `pressure` say so
 * (levels [0, 1]).
 */
export function flatProfile(
  model: string,
  layerUs: number,
  opts: { layers?: number; slowdownAtOne?: number; pressure?: number } = {},
): ModelProfileData {
  return {
    schema: PROFILE_SCHEMA,
    model,
    modelHash: `flat-${model}`,
    machine: { cpuModel: 'synthetic', usableCores: 64, cacheBytes: {} },
    ortVersion: 'none',
    source: 'synthetic',
    coreCounts: [1],
    levels: [0, 1],
    layers: Array.from({ length: opts.layers ?? 1 }, (_, index) => ({
      index,
      name: `l${index}`,
      ops: ['Conv'],
      macs: 0,
      versions: [
        {
          version: 'v',
          soloUs: [layerUs],
          slowdown: [1, opts.slowdownAtOne ?? 1],
          pressure: opts.pressure ?? 0,
        },
      ],
    })),
  };
}

export function predictorsOf(...profiles: ModelProfileData[]): Map<string, ProfilePredictor> {
  return new Map(profiles.map((p) => [p.model, new ProfilePredictor(p)]));
}

/**
 * Loss system: each waiting query gets one core for its whole model if one is free, else is
 * rejected (with no core free it cannot finish in time). On c cores with service time D this
 * is an M/D/c/c queue.
 */
export function lossPolicy(): Policy {
  return {
    name: 'loss',
    decide(view: EngineView): Decision[] {
      let free = view.freeCores;
      return view.waiting.map((q): Decision => {
        if (free === 0) return { kind: 'reject', query: q.id, reason: 'deadline_unreachable' };
        free--;
        return {
          kind: 'dispatch',
          query: q.id,
          block: [q.nextLayer, view.profile(q.model).layerCount],
          cores: 1,
          version: 'v',
        };
      });
    },
  };
}

/** FCFS, one layer per block on `cores` cores, waiting when they are not free. */
export function layerFcfsPolicy(cores: number): Policy {
  return {
    name: 'layer-fcfs',
    decide(view: EngineView): Decision[] {
      let free = view.freeCores;
      const out: Decision[] = [];
      for (const q of view.waiting) {
        if (free < cores) break;
        free -= cores;
        const version = view.profile(q.model).versions[0];
        out.push({ kind: 'dispatch', query: q.id, block: [q.nextLayer, q.nextLayer + 1], cores, version });
      }
      return out;
    },
  };
}

/** Erlang's loss formula: blocking probability of c servers offered `erlangs` of load. */
function erlangB(c: number, erlangs: number): number {
  let b = 1;
  for (let k = 1; k <= c; k++) b = (erlangs * b) / (k + erlangs * b);
  return b;
}

/** Offered load (erlangs) at which c servers block exactly `blocking` of arrivals. */
export function erlangsAtBlocking(c: number, blocking: number): number {
  let [lo, hi] = [0, c];
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (erlangB(c, mid) < blocking) lo = mid;
    else hi = mid;
  }
  return lo;
}
