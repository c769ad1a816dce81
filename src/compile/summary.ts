import {
  ProfilePredictor,
  type ModelProfileData,
  type QualityReport,
  type VersionProfile,
} from '../profile/index.js';

/** A layer whose fastest version alone is not the fastest at the top level, with the numbers. */
export interface TradeoffLayer {
  index: number;
  name: string;
  ops: string[];
  fastestAlone: string;
  fastestAtTop: string;
  /** 1-core latency alone (us): the version fastest alone, then the one fastest at the top. */
  aloneUs: [number, number];
  /** 1-core latency at the top level (us), same two versions. */
  atTopUs: [number, number];
}

/** What `veltair compile` reports per model. */
export interface ProfileSummary {
  model: string;
  layers: number;
  /** Layers that kept each version. */
  versionsKept: Record<string, number>;
  meanVersionsPerLayer: number;
  /** Whole-model latency alone, best version per layer, by core count (us). */
  soloUs: Record<string, number>;
  levels: number[];
  /** Mean over layers of the slowdown (best version alone) at the highest level. */
  meanSlowdownAtTop: number;
  /**
   * Layers where the version fastest alone (1 core) is not the fastest at the highest level:
   * the trade-off adaptive compilation exists for.
   */
  tradeoffLayers: TradeoffLayer[];
  compileMs: number;
  /** Measurement rounds redone because other processes disturbed them. */
  disturbedRounds: number;
  quality?: QualityReport;
}

export function summarize(profile: ModelProfileData): ProfileSummary {
  const predictor = new ProfilePredictor(profile);
  const versionsKept: Record<string, number> = {};
  let kept = 0;
  let slowdownSum = 0;
  const tradeoffLayers: ProfileSummary['tradeoffLayers'] = [];
  for (const [i, layer] of profile.layers.entries()) {
    for (const v of layer.versions) versionsKept[v.version] = (versionsKept[v.version] ?? 0) + 1;
    kept += layer.versions.length;
    const alone = fastest(layer.versions, (v) => v.soloUs[0]);
    const atTop = fastest(layer.versions, (v) => v.soloUs[0] * v.slowdown[v.slowdown.length - 1]);
    slowdownSum += alone.slowdown[alone.slowdown.length - 1];
    if (alone.version !== atTop.version) {
      const top = (v: VersionProfile) => Math.round(v.soloUs[0] * v.slowdown[v.slowdown.length - 1]);
      tradeoffLayers.push({
        index: i,
        name: layer.name,
        ops: layer.ops,
        fastestAlone: alone.version,
        fastestAtTop: atTop.version,
        aloneUs: [Math.round(alone.soloUs[0]), Math.round(atTop.soloUs[0])],
        atTopUs: [top(alone), top(atTop)],
      });
    }
  }
  const n = profile.layers.length;
  const soloUs: Record<string, number> = {};
  for (let c = 1; c <= predictor.maxCores; c++) {
    soloUs[String(c)] = Math.round(predictor.predict(0, n, c, 0).latencyUs);
  }
  return {
    model: profile.model,
    layers: n,
    versionsKept,
    meanVersionsPerLayer: n > 0 ? Math.round((kept / n) * 100) / 100 : 0,
    soloUs,
    levels: profile.levels,
    meanSlowdownAtTop: n > 0 ? Math.round((slowdownSum / n) * 1000) / 1000 : 1,
    tradeoffLayers,
    compileMs: profile.compile?.compileMs ?? 0,
    disturbedRounds: profile.compile?.disturbedRounds ?? 0,
    ...(profile.compile?.quality ? { quality: profile.compile.quality } : {}),
  };
}

function fastest<T>(items: readonly T[], cost: (t: T) => number): T {
  let best = items[0];
  for (const t of items) if (cost(t) < cost(best)) best = t;
  return best;
}

/** Human-readable lines for one model. */
export function formatSummary(s: ProfileSummary, reused: boolean): string[] {
  const ms = (us: number) => `${(us / 1000).toFixed(2)} ms`;
  const kept = Object.entries(s.versionsKept)
    .map(([v, k]) => `${v} ${k}`)
    .join(', ');
  const solo = Object.entries(s.soloUs)
    .map(([c, us]) => `${c} core${c === '1' ? '' : 's'} ${ms(us)}`)
    .join(', ');
  const lines = [
    `${s.model}: ${s.layers} layers${reused ? ' (profile reused)' : ''}, compile ${(s.compileMs / 1000).toFixed(1)} s` +
      (s.disturbedRounds > 0 ? ` (${s.disturbedRounds} rounds redone: other processes were busy)` : ''),
    `  versions kept per layer: mean ${s.meanVersionsPerLayer} (${kept})`,
    `  solo latency: ${solo}`,
    `  levels ${s.levels.join(', ')}; mean slowdown at ${s.levels[s.levels.length - 1]}: ${s.meanSlowdownAtTop}x`,
    `  layers whose fastest version alone is not the fastest at the top level: ${s.tradeoffLayers.length}`,
  ];
  const t = widestTradeoff(s.tradeoffLayers);
  if (t) {
    lines.push(
      `    e.g. layer ${t.index} ${t.name} (${t.ops.join('+')}) on 1 core: alone ${t.fastestAlone} ${t.aloneUs[0]} us vs ` +
        `${t.fastestAtTop} ${t.aloneUs[1]} us; at level ${s.levels[s.levels.length - 1]} ${t.fastestAlone} ` +
        `${t.atTopUs[0]} us vs ${t.fastestAtTop} ${t.atTopUs[1]} us`,
    );
  }
  const q = s.quality;
  if (q) {
    const under =
      q.interfered.n > 0
        ? `under interference median ${q.interfered.medianPct}% p90 ${q.interfered.p90Pct}% (n=${q.interfered.n})`
        : 'no interference level to check (the probe saw none)';
    const byCores = Object.entries(q.aloneByCores ?? {})
      .map(([c, e]) => `${c} core${c === '1' ? '' : 's'} median ${e.medianPct}% p90 ${e.p90Pct}%`)
      .join(', ');
    lines.push(
      `  prediction error on held-out blocks: alone median ${q.alone.medianPct}% p90 ${q.alone.p90Pct}% (n=${q.alone.n}` +
        (byCores ? `: ${byCores}` : '') +
        `); ${under}`,
    );
    const during = Object.entries(q.layersDuringCheck ?? {})
      .map(([c, ratio]) => `${ratio}x on ${c} core${c === '1' ? '' : 's'}`)
      .join(', ');
    if (during)
      lines.push(`  layers measured again during the check ran at their profiled latency times ${during}`);
  }
  return lines;
}

/** The trade-off layer where the version fastest alone loses most at the top level. */
function widestTradeoff(layers: readonly TradeoffLayer[]): TradeoffLayer | undefined {
  let best: TradeoffLayer | undefined;
  const gain = (t: TradeoffLayer) => t.atTopUs[0] / t.atTopUs[1];
  for (const t of layers) if (!best || gain(t) > gain(best)) best = t;
  return best;
}
