import { mapSoloUs } from '../runcost.js';
import type { MeasuredBlock, RawLayer } from '../store.js';
import type { Assembly } from './assembly.js';
import type { CorrectionStage } from './stage.js';

/**
 * Coarse blocks as if measured when their layers were: each block's layers are measured again
 * right after it, and its latency is scaled by their sum then over their sum now.
 */
export const drift: CorrectionStage = {
  name: 'drift',
  corrects:
    "The machine's state drifts between the layer phase and the coarse blocks, minutes later: other " +
    "tenants of the host's last-level cache come and go for seconds to tens of seconds. Scaling each " +
    'block by how much its own layers, measured again beside it, drifted since the layer phase lets ' +
    "the blocks calibrate what blocks do rather than the machine's state at that moment.",
  apply: (a: Assembly): Assembly => ({ ...a, coarse: atLayerTime(a.raw.layers, a.coarse) }),
};

function atLayerTime(raw: readonly RawLayer[], coarse: readonly MeasuredBlock[]): MeasuredBlock[] {
  return coarse.map((block) => {
    const now = block.layersNowUs;
    if (!now) return block;
    const [i, j] = block.range;
    return {
      range: block.range,
      versions: block.versions.map((v) => {
        const drift = v.soloUs.map((_, c) => {
          let then = 0;
          for (let k = i; k < j; k++)
            then += raw[k]?.single.find((w) => w.version === v.version)?.soloUs[c] ?? NaN;
          const ratio = then / (now[v.version]?.[c] ?? NaN);
          return Number.isFinite(ratio) && ratio > 0 ? ratio : 1;
        });
        return mapSoloUs(v, (us, c) => us * drift[c]);
      }),
    };
  });
}
