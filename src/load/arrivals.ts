import { VeltairError } from '../errors/index.js';

/**
 * Open-loop Poisson arrivals (MLPerf LoadGen's Server scenario). The draws do not depend on
 * the rate: one seeded sequence of unit-rate gaps and model choices is scaled by 1 / qps, so
 * runs at different rates see the same queries in the same order (common random numbers),
 * which keeps satisfaction-vs-rate curves smooth for the peak search.
 */
import { Rng, streamSeed, type Arrival } from '../sim/index.js';

export function poissonArrivals(
  weights: Readonly<Record<string, number>>,
  qps: number,
  count: number,
  seed: number,
): Arrival[] {
  if (!(qps > 0)) throw new VeltairError('invalid_argument', `qps must be > 0, got ${qps}`);
  const models = Object.keys(weights).sort();
  const cumulative: number[] = [];
  let total = 0;
  for (const m of models) cumulative.push((total += weights[m]));
  const rng = new Rng(streamSeed(seed, 'arrivals'));
  const out: Arrival[] = [];
  let unitTime = 0;
  for (let i = 0; i < count; i++) {
    unitTime += rng.exponential();
    const u = rng.next() * total;
    let k = 0;
    while (k < models.length - 1 && cumulative[k] <= u) k++;
    out.push({ model: models[k], atMs: (unitTime / qps) * 1000 });
  }
  return out;
}
