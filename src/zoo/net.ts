import { DataType, GraphBuilder, makeModel, valueInfo, type ModelProto } from '../onnx/index.js';
import {
  UNIT,
  afterLinear,
  afterPointwise,
  averaged,
  mixture,
  product,
  sigmoid,
  sum,
  type SignalStats,
} from './signal.js';

/** Spatial options of a convolution or pooling window (square kernels, symmetric padding unless `pads`). */
export interface WindowOptions {
  stride?: number;
  /** Same padding on every side. */
  pad?: number;
  /** ONNX pads [top, left, bottom, right]; overrides `pad`. */
  pads?: [number, number, number, number];
  /** Output size rounds up (Caffe-style pooling), as ONNX `ceil_mode`. */
  ceil?: boolean;
}

export interface ConvOptions extends WindowOptions {
  group?: number;
  /** Adds a bias input (convolutions followed by BatchNorm have none). */
  bias?: boolean;
  /** Multiplies the He-scaled weights (below 1 for layers whose output should start near its bias). */
  weightGain?: number;
}

interface TypedShape {
  shape: number[];
  elemType: number;
}

/**
 * A shape-tracking layer on top of `GraphBuilder`: every op computes its output shape, so the
 * finished graph carries a `value_info` entry for every intermediate value and graph-level tools
 * (MAC counting, partitioning) need no shape inference.
 *
 * Random weights must keep activations finite and non-degenerate through deep stacks (block-by-block
 * verification compares float outputs). Convolutions use He-style scales, and each value also
 * carries estimated signal statistics (mean and E[x^2], see signal.ts), propagated op by op;
 * BatchNorm's running variance is set to the estimate for its input, so BatchNorm outputs stay
 * near unit scale (with identity statistics, Swish, squeeze-excite gates and residual sums shrink
 * or grow the signal exponentially with depth).
 */
export class Net {
  readonly g: GraphBuilder;
  private readonly types = new Map<string, TypedShape>();
  /** Estimated statistics of each float activation (unit where nothing better is known). */
  private readonly stats = new Map<string, SignalStats>();
  private readonly outputNames = new Map<string, string>();
  private readonly scalars = new Map<number, string>();

  constructor(name: string, seed: number) {
    this.g = new GraphBuilder(name, seed);
  }

  shapeOf(x: string): number[] {
    const t = this.types.get(x);
    if (!t) throw new Error(`zoo: no shape recorded for value ${x}`);
    return [...t.shape];
  }

  input(name: string, shape: number[], elemType: number = DataType.FLOAT): string {
    this.g.input(name, shape, elemType);
    return this.record(name, shape, elemType);
  }

  /** Declares `x` a graph output under `name` (the value is renamed when the graph is built). */
  output(x: string, name: string): void {
    this.outputNames.set(x, name);
  }

  private record(name: string, shape: number[], elemType: number = DataType.FLOAT): string {
    this.types.set(name, { shape, elemType });
    return name;
  }

  /** Adds a node whose single output has the given shape (and, by default, the first input's type). */
  private add(op: string, inputs: string[], shape: number[], attrs = {}, elemType?: number): string {
    const out = this.g.op(op, inputs, attrs);
    this.stats.set(out, this.statsOf(inputs[0]));
    return this.record(out, shape, elemType ?? this.types.get(inputs[0])?.elemType ?? DataType.FLOAT);
  }

  /** Estimated mean and E[x^2] of a value. */
  statsOf(x: string): SignalStats {
    return this.stats.get(x) ?? UNIT;
  }

  private withStats(x: string, stats: SignalStats): string {
    this.stats.set(x, stats);
    return x;
  }

  private pointwise(y: string, x: string, f: (v: number) => number): string {
    return this.withStats(y, afterPointwise(this.statsOf(x), f));
  }

  /** A rank-0 float constant, shared by every use of the same value. */
  scalar(value: number): string {
    const known = this.scalars.get(value);
    if (known) return known;
    const name = this.g.filled('const', [], value);
    this.scalars.set(value, name);
    return this.record(name, []);
  }

  /** Weights uniform in ±sqrt(6 / fanIn): variance 2 / fanIn, which keeps ReLU stacks at unit scale. */
  heWeight(prefix: string, dims: number[], fanIn: number): string {
    return this.record(this.g.weight(prefix, dims, Math.sqrt(6 / fanIn)), dims);
  }

  /** Weights uniform in ±sqrt(3 / fanIn): variance 1 / fanIn, for layers without a rectifier after. */
  lecunWeight(prefix: string, dims: number[], fanIn: number): string {
    return this.record(this.g.weight(prefix, dims, Math.sqrt(3 / fanIn)), dims);
  }

  /**
   * Convolution filters (one per output channel, dims[0]) drawn uniformly, then each scaled to the
   * norm that weights of variance `weightVar` have on average: every channel gets the same gain,
   * so one running variance per BatchNorm fits all its channels (a depthwise 3x3 filter's norm
   * would otherwise vary by about +-50% from channel to channel).
   */
  filters(prefix: string, dims: number[], weightVar: number): string {
    const perFilter = dims.slice(1).reduce((a, b) => a * b, 1);
    const data = new Float32Array(dims[0] * perFilter);
    for (let i = 0; i < data.length; i++) data[i] = this.g.random() * 2 - 1;
    for (let f = 0; f < dims[0]; f++) {
      const w = data.subarray(f * perFilter, (f + 1) * perFilter);
      const norm2 = w.reduce((a, b) => a + b * b, 0);
      const scale = norm2 > 0 ? Math.sqrt((weightVar * perFilter) / norm2) : 0;
      for (let i = 0; i < perFilter; i++) w[i] *= scale;
    }
    return this.record(this.g.tensor(prefix, dims, data), dims);
  }

  /** Weights uniform in ±scale. */
  uniform(prefix: string, dims: number[], scale: number): string {
    return this.record(this.g.weight(prefix, dims, scale), dims);
  }

  filled(prefix: string, dims: number[], value: number): string {
    return this.record(this.g.filled(prefix, dims, value), dims);
  }

  int64s(prefix: string, values: number[]): string {
    return this.record(this.g.int64s(prefix, values), [values.length], DataType.INT64);
  }

  // ---- convolution and pooling -------------------------------------------------------------

  conv(x: string, outChannels: number, kernel: number, opts: ConvOptions = {}): string {
    const [n, c, h, w] = this.shapeOf(x);
    const group = opts.group ?? 1;
    const stride = opts.stride ?? 1;
    const pads = padsOf(opts);
    const fanIn = (c / group) * kernel * kernel;
    const gain = opts.weightGain ?? 1;
    const weight = this.filters(
      'conv_w',
      [outChannels, c / group, kernel, kernel],
      (2 * gain * gain) / fanIn,
    );
    const inputs = [x, weight];
    if (opts.bias) inputs.push(this.filled('conv_b', [outChannels], 0));
    const out = [
      n,
      outChannels,
      windowOut(h, kernel, stride, pads[0], pads[2]),
      windowOut(w, kernel, stride, pads[1], pads[3]),
    ];
    const y = this.add('Conv', inputs, out, {
      kernel_shape: [kernel, kernel],
      strides: [stride, stride],
      pads,
      group,
    });
    // Taps that fall on zero padding add nothing: on small maps that is a good share of a 5x5 kernel.
    const validTaps =
      meanValidTaps(h, kernel, stride, pads[0], out[2]) * meanValidTaps(w, kernel, stride, pads[1], out[3]);
    return this.withStats(
      y,
      afterLinear(this.statsOf(x), (c / group) * validTaps, (2 * gain * gain) / fanIn),
    );
  }

  /**
   * Inference BatchNorm with gamma 1, beta 0, running mean 0 and running variance equal to the
   * estimated E[x^2] of its input (a convolution's output, so zero-mean): unit scale out.
   */
  batchNorm(x: string, epsilon = 1e-5, gamma = 1): string {
    const c = this.shapeOf(x)[1];
    const scale = this.filled('bn_gamma', [c], gamma);
    const bias = this.filled('bn_beta', [c], 0);
    const mean = this.filled('bn_mean', [c], 0);
    const variance = this.filled('bn_var', [c], Math.fround(this.statsOf(x).m2));
    const y = this.add('BatchNormalization', [x, scale, bias, mean, variance], this.shapeOf(x), {
      epsilon: { float: epsilon },
    });
    return this.withStats(y, { mean: 0, m2: gamma * gamma });
  }

  maxPool(x: string, kernel: number, opts: WindowOptions = {}): string {
    return this.pool('MaxPool', x, kernel, opts);
  }

  avgPool(x: string, kernel: number, opts: WindowOptions = {}): string {
    return this.pool('AveragePool', x, kernel, opts);
  }

  private pool(op: string, x: string, kernel: number, opts: WindowOptions): string {
    const [n, c, h, w] = this.shapeOf(x);
    const stride = opts.stride ?? kernel;
    const pads = padsOf(opts);
    const ceil = opts.ceil ?? false;
    const out = [
      n,
      c,
      windowOut(h, kernel, stride, pads[0], pads[2], ceil),
      windowOut(w, kernel, stride, pads[1], pads[3], ceil),
    ];
    return this.add(op, [x], out, {
      kernel_shape: [kernel, kernel],
      strides: [stride, stride],
      pads,
      ceil_mode: ceil ? 1 : 0,
    });
  }

  globalAvgPool(x: string): string {
    const [n, c, h, w] = this.shapeOf(x);
    return this.withStats(this.add('GlobalAveragePool', [x], [n, c, 1, 1]), averaged(this.statsOf(x), h * w));
  }

  lrn(x: string, size: number, alpha: number, beta: number, bias: number): string {
    return this.add('LRN', [x], this.shapeOf(x), {
      size,
      alpha: { float: alpha },
      beta: { float: beta },
      bias: { float: bias },
    });
  }

  // ---- activations and element-wise ops ----------------------------------------------------

  relu(x: string): string {
    return this.pointwise(this.add('Relu', [x], this.shapeOf(x)), x, (v) => Math.max(v, 0));
  }

  /** ReLU6 as Clip(0, 6), with the bounds as shared scalar inputs (opset 11+). */
  relu6(x: string): string {
    const y = this.add('Clip', [x, this.scalar(0), this.scalar(6)], this.shapeOf(x));
    return this.pointwise(y, x, (v) => Math.min(Math.max(v, 0), 6));
  }

  leakyRelu(x: string, alpha: number): string {
    const y = this.add('LeakyRelu', [x], this.shapeOf(x), { alpha: { float: alpha } });
    return this.pointwise(y, x, (v) => (v > 0 ? v : alpha * v));
  }

  sigmoid(x: string): string {
    const y = this.add('Sigmoid', [x], this.shapeOf(x));
    return this.pointwise(y, x, sigmoid);
  }

  /** Swish / SiLU: x * sigmoid(x), as two plain ops. */
  swish(x: string): string {
    const y = this.mul(x, this.sigmoid(x));
    // Not the product of independent factors: both come from the same x.
    return this.pointwise(y, x, (v) => v * sigmoid(v));
  }

  unary(op: 'Tanh' | 'Erf' | 'Sqrt', x: string): string {
    return this.add(op, [x], this.shapeOf(x));
  }

  add2(a: string, b: string): string {
    return this.withStats(this.binary('Add', a, b), sum(this.statsOf(a), this.statsOf(b)));
  }

  mul(a: string, b: string): string {
    return this.withStats(this.binary('Mul', a, b), product(this.statsOf(a), this.statsOf(b)));
  }

  sub(a: string, b: string): string {
    return this.binary('Sub', a, b);
  }

  div(a: string, b: string): string {
    return this.binary('Div', a, b);
  }

  private binary(op: string, a: string, b: string): string {
    return this.add(op, [a, b], broadcast(this.shapeOf(a), this.shapeOf(b)));
  }

  // ---- shape ops ---------------------------------------------------------------------------

  concat(xs: string[], axis: number): string {
    const shape = this.shapeOf(xs[0]);
    shape[axis] = xs.reduce((sum, x) => sum + this.shapeOf(x)[axis], 0);
    const stats = mixture(xs.map((x) => ({ stats: this.statsOf(x), weight: this.shapeOf(x)[axis] })));
    return this.withStats(this.add('Concat', xs, shape, { axis }), stats);
  }

  flatten(x: string): string {
    const [n, ...rest] = this.shapeOf(x);
    return this.add('Flatten', [x], [n, rest.reduce((a, b) => a * b, 1)], { axis: 1 });
  }

  reshape(x: string, shape: number[]): string {
    return this.add('Reshape', [x, this.int64s('shape', shape)], shape);
  }

  transpose(x: string, perm: number[]): string {
    const shape = this.shapeOf(x);
    return this.add(
      'Transpose',
      [x],
      perm.map((p) => shape[p]),
      { perm },
    );
  }

  cast(x: string, to: number): string {
    return this.add('Cast', [x], this.shapeOf(x), { to }, to);
  }

  /** Rows of `table` picked by integer `indices` along axis 0 (an embedding lookup). */
  gather(table: string, indices: string, axis = 0): string {
    const t = this.shapeOf(table);
    const shape = [...t.slice(0, axis), ...this.shapeOf(indices), ...t.slice(axis + 1)];
    return this.add('Gather', [table, indices], shape, { axis }, this.types.get(table)?.elemType);
  }

  // ---- dense layers ------------------------------------------------------------------------

  /** Fully connected layer as Gemm (weight [out, in], transB), on a [N, in] input. */
  linear(x: string, outFeatures: number, rectified = false): string {
    const [n, inFeatures] = this.shapeOf(x);
    const dims = [outFeatures, inFeatures];
    const w = rectified
      ? this.heWeight('fc_w', dims, inFeatures)
      : this.lecunWeight('fc_w', dims, inFeatures);
    const b = this.filled('fc_b', [outFeatures], 0);
    return this.add('Gemm', [x, w, b], [n, outFeatures], { transB: 1 });
  }

  matmul(a: string, b: string): string {
    const sa = this.shapeOf(a);
    const sb = this.shapeOf(b);
    const batch = broadcast(sa.slice(0, -2), sb.slice(0, -2));
    return this.add('MatMul', [a, b], [...batch, sa[sa.length - 2], sb[sb.length - 1]]);
  }

  /** x @ W + b on the last axis (transformer projections); weight [in, out]. */
  dense(x: string, outFeatures: number, weightScale?: number): string {
    const inFeatures = this.shapeOf(x).at(-1) as number;
    const dims = [inFeatures, outFeatures];
    const w =
      weightScale === undefined
        ? this.lecunWeight('dense_w', dims, inFeatures)
        : this.uniform('dense_w', dims, weightScale);
    return this.add2(this.matmul(x, w), this.filled('dense_b', [outFeatures], 0));
  }

  softmax(x: string, axis = -1): string {
    return this.add('Softmax', [x], this.shapeOf(x), { axis });
  }

  /** LayerNormalization over the last axis (opset 17). */
  layerNorm(x: string, epsilon: number): string {
    const h = this.shapeOf(x).at(-1) as number;
    const gamma = this.filled('ln_gamma', [h], 1);
    const beta = this.filled('ln_beta', [h], 0);
    return this.add('LayerNormalization', [x, gamma, beta], this.shapeOf(x), {
      axis: -1,
      epsilon: { float: epsilon },
    });
  }

  /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), from plain ops (Gelu is only in opset 20). */
  gelu(x: string): string {
    const erf = this.unary('Erf', this.div(x, this.scalar(Math.SQRT2)));
    return this.mul(this.mul(x, this.scalar(0.5)), this.add2(erf, this.scalar(1)));
  }

  // ---- finishing ---------------------------------------------------------------------------

  /**
   * The model, with outputs renamed to their declared names and a value_info entry for every
   * value that is neither graph input, graph output nor initializer.
   */
  build(opset: number): ModelProto {
    const graph = this.g.build();
    const rename = (name: string) => this.outputNames.get(name) ?? name;
    for (const node of graph.node) {
      node.input = node.input.map(rename);
      node.output = node.output.map(rename);
    }
    for (const [value, name] of this.outputNames) {
      const t = this.types.get(value) as TypedShape;
      graph.output.push(valueInfo(name, t.elemType, t.shape));
    }
    // Node outputs are exactly the intermediate values once graph outputs carry their new names.
    for (const node of graph.node) {
      for (const out of node.output) {
        const t = this.types.get(out);
        if (t) graph.valueInfo.push(valueInfo(out, t.elemType, t.shape));
      }
    }
    return makeModel(graph, opset);
  }
}

function padsOf(opts: WindowOptions): [number, number, number, number] {
  if (opts.pads) return opts.pads;
  const p = opts.pad ?? 0;
  return [p, p, p, p];
}

/** Output length of a sliding window, as ONNX defines it for Conv and pooling (dilation 1). */
export function windowOut(
  length: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  ceil = false,
): number {
  const span = length + padBegin + padEnd - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // ONNX (like Caffe) drops a last window that would start inside the end padding.
  if (ceil && (out - 1) * stride >= length + padBegin) out -= 1;
  return out;
}

/** Average count of a window's taps that land inside the input (not on padding), along one axis. */
function meanValidTaps(
  length: number,
  kernel: number,
  stride: number,
  padBegin: number,
  outLength: number,
): number {
  let taps = 0;
  for (let o = 0; o < outLength; o++) {
    const start = o * stride - padBegin;
    taps += Math.min(start + kernel, length) - Math.max(start, 0);
  }
  return taps / outLength;
}

/** NumPy-style broadcast of two fixed shapes. */
export function broadcast(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`zoo: cannot broadcast [${a}] with [${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}
