/**
 * Every policy by name. Engines look policies up here and never branch on a name.
 */
import { VeltairError } from '../errors/index.js';
import { instancePerCore } from './policies/instance-per-core.js';
import { layerWise } from './policies/layer-wise.js';
import { modelFcfs } from './policies/model-fcfs.js';
import { planaria } from './policies/planaria.js';
import { prema } from './policies/prema.js';
import { staticPartition } from './policies/static-partition.js';
import { veltair, veltair1v, veltairFixed } from './policies/veltair.js';
import type { PolicySpec } from './types.js';

const ALL: readonly PolicySpec[] = [
  veltair,
  staticPartition,
  modelFcfs,
  layerWise,
  planaria,
  prema,
  instancePerCore,
  veltairFixed,
  veltair1v,
];

export const POLICIES: Readonly<Record<string, PolicySpec>> = Object.freeze(
  Object.fromEntries(ALL.map((spec) => [spec.name, spec])),
);

/** The spec registered under `name`; throws `unknown_policy` listing the known names. */
export function policySpec(name: string): PolicySpec {
  const spec = Object.hasOwn(POLICIES, name) ? POLICIES[name] : undefined;
  if (!spec) {
    const known = Object.keys(POLICIES).join(', ');
    throw new VeltairError('unknown_policy', `unknown policy '${name}' (known: ${known})`, {
      details: { policy: name },
    });
  }
  return spec;
}

/** Every registered policy name: veltair first, then baselines, then ablations. */
export function policyNames(): string[] {
  return Object.keys(POLICIES);
}

/** Baselines and ablations that `veltair` is compared against. */
export const BASELINES: readonly string[] = [
  'static-partition',
  'model-fcfs',
  'layer-wise',
  'planaria',
  'prema',
  'instance-per-core',
];
export const ABLATIONS: readonly string[] = ['veltair-fixed', 'veltair-1v'];
