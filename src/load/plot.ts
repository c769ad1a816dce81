/**
 * The satisfaction-vs-offered-QPS plot, drawn headless with vega-lite + vega (SVG renderer,
 * no canvas): one panel per workload, one line per policy, a rule at the target.
 */
import type { TopLevelSpec } from 'vega-lite';
import { PLOT_FLOOR, type CurvePoint } from './compare.js';

/**
 * Loads vega on first use: its modules add megabytes of source and code to the heap of every
 * process that imports this package's load generator, the server's engine thread included, and
 * each full collection of that heap stops dispatching for as long as it takes to mark it.
 */
export async function satisfactionPlotSvg(points: readonly CurvePoint[], target: number): Promise<string> {
  const [{ parse, View }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const data = points.map((p) => ({ ...p, satisfaction: Math.max(PLOT_FLOOR, p.satisfaction), target }));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: data },
    facet: {
      column: {
        field: 'workload',
        type: 'nominal',
        title: null,
        sort: [...new Set(points.map((p) => p.workload))],
      },
    },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'qps', type: 'quantitative', title: 'offered load (QPS)' },
            y: {
              field: 'satisfaction',
              type: 'quantitative',
              title: 'QoS satisfaction',
              scale: { domain: [PLOT_FLOOR, 1] },
            },
            color: { field: 'policy', type: 'nominal' },
          },
        },
        {
          mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
          encoding: { y: { field: 'target', type: 'quantitative' } },
        },
      ],
    },
  };
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
