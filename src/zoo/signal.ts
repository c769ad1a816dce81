/**
 * Signal statistics of random networks: the mean and second moment E[x^2] of each activation,
 * propagated op by op under the usual independence assumptions. The zoo uses them to choose
 * BatchNorm running variances so that activations of randomly weighted models stay near unit scale.
 */
export interface SignalStats {
  mean: number;
  /** E[x^2] (not the variance). */
  m2: number;
}

export const UNIT: SignalStats = { mean: 0, m2: 1 };

/** Zero-mean weights of variance `weightVar` over `fanIn` inputs: E[y^2] = fanIn * Var(w) * E[x^2]. */
export function afterLinear(x: SignalStats, fanIn: number, weightVar: number): SignalStats {
  return { mean: 0, m2: fanIn * weightVar * x.m2 };
}

/** An element-wise function of a Gaussian with x's mean and variance, by quadrature over +-8 sd. */
export function afterPointwise(x: SignalStats, f: (v: number) => number): SignalStats {
  const sd = Math.sqrt(Math.max(x.m2 - x.mean * x.mean, 0));
  const steps = 320;
  const dz = 16 / steps;
  let mean = 0;
  let m2 = 0;
  for (let i = 0; i <= steps; i++) {
    const z = -8 + i * dz;
    const w = Math.exp((-z * z) / 2);
    const y = f(x.mean + sd * z);
    mean += y * w;
    m2 += y * y * w;
  }
  const norm = dz / Math.sqrt(2 * Math.PI);
  return { mean: mean * norm, m2: m2 * norm };
}

/** Sum of independent values. */
export function sum(a: SignalStats, b: SignalStats): SignalStats {
  return { mean: a.mean + b.mean, m2: a.m2 + b.m2 + 2 * a.mean * b.mean };
}

/** Product of independent values. */
export function product(a: SignalStats, b: SignalStats): SignalStats {
  return { mean: a.mean * b.mean, m2: a.m2 * b.m2 };
}

/** Average of `count` independent samples: the mean stays, the variance shrinks. */
export function averaged(x: SignalStats, count: number): SignalStats {
  const variance = Math.max(x.m2 - x.mean * x.mean, 0);
  return { mean: x.mean, m2: x.mean * x.mean + variance / count };
}

/** Concatenation: a mixture weighted by each part's share of the channels. */
export function mixture(parts: readonly { stats: SignalStats; weight: number }[]): SignalStats {
  const total = parts.reduce((n, p) => n + p.weight, 0);
  return {
    mean: parts.reduce((s, p) => s + p.stats.mean * p.weight, 0) / total,
    m2: parts.reduce((s, p) => s + p.stats.m2 * p.weight, 0) / total,
  };
}

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
