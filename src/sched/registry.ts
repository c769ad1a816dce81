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
import type { PolicyParams, PolicySpec } from './types.js';

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

/** Parameters as `k=v k=v`, as every report prints them. */
export function formatParams(params: PolicyParams): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/**
 * `k=v,k=v` (or space-separated) as parameters of `spec`: its defaults with these values over
 * them. A name the spec does not take, or a value that is not a finite number, is refused.
 */
export function parseParams(spec: PolicySpec, text: string): PolicyParams {
  const params: Record<string, number> = { ...spec.defaults };
  for (const pair of text.split(/[\s,]+/).filter((p) => p !== '')) {
    const [key, value, ...rest] = pair.split('=');
    const known = Object.hasOwn(spec.defaults, key) || Object.hasOwn(spec.paramGrid, key);
    if (!known || value === undefined || rest.length > 0 || !Number.isFinite(Number(value)) || value === '') {
      const names = [...new Set([...Object.keys(spec.defaults), ...Object.keys(spec.paramGrid)])].join(', ');
      throw new VeltairError(
        'invalid_argument',
        `${spec.name}: '${pair}' is not a parameter as name=number (parameters: ${names})`,
      );
    }
    params[key] = Number(value);
  }
  return params;
}
