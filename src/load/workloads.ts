/**
 * Workload mixes and QoS targets.
 *
 * A mix is a set of models with their share of arriving queries:
 * - light: small CNNs (MobileNetV2, EfficientNet-B0, ResNet-18, GoogLeNet);
 * - heavy: large CNNs and BERT (ResNet-50, VGG-19, Tiny-YOLOv2, BERT-base);
 * - medium: both, small CNNs taking most queries.
 *
 * QoS targets: MLPerf's Server-scenario targets where MLPerf defines one (ResNet-50 15 ms,
 * MobileNet 10 ms — applied to MobileNetV2 —, BERT 130 ms), and only for the 64-core
 * calibration, which stands for the machine those targets were set for. Otherwise
 * QOS_MULTIPLE x the model's isolated latency (best core count, no co-runners) on the
 * machine simulated or at hand, rounded up to 0.1 ms. On the machine at hand, the isolated
 * latency is its compiled profile's, fixed until the next compile (decision 0013).
 */
import { isolatedLatencyMs, type ProfilePredictor } from '../profile/index.js';
import { ZOO_MODELS } from '../zoo/index.js';
import { VeltairError } from '../errors/index.js';

export type WorkloadName = 'light' | 'medium' | 'heavy';
export const WORKLOAD_NAMES: readonly WorkloadName[] = ['light', 'medium', 'heavy'];

export interface Workload {
  name: WorkloadName;
  summary: string;
  /** Share of arriving queries per model; sums to 1. */
  weights: Readonly<Record<string, number>>;
}

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = {
  light: {
    name: 'light',
    summary: 'small CNNs',
    weights: { mobilenetv2: 0.3, 'efficientnet-b0': 0.2, resnet18: 0.25, googlenet: 0.25 },
  },
  medium: {
    name: 'medium',
    summary: 'small CNNs, large CNNs and BERT',
    weights: {
      mobilenetv2: 0.25,
      googlenet: 0.2,
      resnet18: 0.15,
      resnet50: 0.2,
      'tiny-yolov2': 0.1,
      'bert-base': 0.1,
    },
  },
  heavy: {
    name: 'heavy',
    summary: 'large CNNs and BERT',
    weights: { resnet50: 0.4, vgg19: 0.15, 'tiny-yolov2': 0.2, 'bert-base': 0.25 },
  },
};

/** MLPerf Server-scenario targets (ms) of the zoo's models that have one; used with the 64-core calibration only. */
export const MLPERF_QOS_MS: Readonly<Record<string, number>> = Object.fromEntries(
  ZOO_MODELS.flatMap((m) => (m.qosTargetMs === null ? [] : [[m.name, m.qosTargetMs]])),
);

/** Target = this multiple of the model's isolated latency where MLPerf has none. */
export const QOS_MULTIPLE = 5;

export function parseWorkloads(text: string): WorkloadName[] {
  if (text === 'all') return [...WORKLOAD_NAMES];
  return text.split(',').map((w) => {
    if (!(WORKLOAD_NAMES as readonly string[]).includes(w))
      throw new VeltairError(
        'unknown_workload',
        `unknown workload '${w}' (known: ${WORKLOAD_NAMES.join(', ')}, all)`,
      );
    return w as WorkloadName;
  });
}

/** The mix restricted to the models that have profiles, renormalised; lists what was dropped. */
export function resolveMix(
  workload: Workload,
  available: ReadonlySet<string>,
): { weights: Record<string, number>; dropped: string[] } {
  const kept = Object.entries(workload.weights).filter(([m]) => available.has(m));
  const dropped = Object.keys(workload.weights).filter((m) => !available.has(m));
  const total = kept.reduce((s, [, w]) => s + w, 0);
  if (kept.length === 0)
    throw new VeltairError(
      'profile_unavailable',
      `workload '${workload.name}' needs one of ${Object.keys(workload.weights).join(', ')}; profiles have ${[...available].join(', ') || 'none'}`,
    );
  return { weights: Object.fromEntries(kept.map(([m, w]) => [m, w / total])), dropped };
}

export interface QosTarget {
  targetMs: number;
  rule: 'mlperf' | 'multiple-of-isolated';
}

export function qosTargets(
  models: readonly string[],
  predictors: ReadonlyMap<string, ProfilePredictor>,
  totalCores: number,
  mlperfApplies: boolean,
): Record<string, QosTarget> {
  const out: Record<string, QosTarget> = {};
  for (const m of models) {
    const mlperf = MLPERF_QOS_MS[m];
    if (mlperfApplies && mlperf !== undefined) {
      out[m] = { targetMs: mlperf, rule: 'mlperf' };
      continue;
    }
    const pred = predictors.get(m);
    if (!pred) throw new VeltairError('profile_unavailable', `no profile for model '${m}'`);
    const targetMs = Math.ceil(QOS_MULTIPLE * isolatedLatencyMs(pred, totalCores) * 10) / 10;
    out[m] = { targetMs, rule: 'multiple-of-isolated' };
  }
  return out;
}
