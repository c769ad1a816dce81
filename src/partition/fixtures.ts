/**
 * Small hand-built graphs that exercise every shape of dataflow a block cut must handle.
 * Used by the partition and runtime tests; not part of the public surface.
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema } from 'onnx-buf';
import { DataType, GraphBuilder, int64Tensor, makeModel, valueInfo, type ModelProto } from '../onnx/index.js';

export interface Fixture {
  name: string;
  model: ModelProto;
  /** Shapes for inputs with symbolic dims. */
  shapes: Record<string, number[]>;
}

function conv(b: GraphBuilder, x: string, cin: number, cout: number, k: number): string {
  const w = b.weight('w', [cout, cin, k, k], 0.5);
  const bias = b.weight('b', [cout], 0.1);
  return b.op('Conv', [x, w, bias], { pads: [k >> 1, k >> 1, k >> 1, k >> 1] });
}

/** Inception-style: three branches from one input (one through a pool), joined by Concat. */
export function branchModel(): Fixture {
  const b = new GraphBuilder('branch', 11);
  const x = b.input('x', [1, 4, 8, 8]);
  const a = b.op('Relu', [conv(b, x, 4, 3, 1)]);
  const mid = b.op('Relu', [conv(b, x, 4, 2, 1)]);
  const c = b.op('Relu', [conv(b, mid, 2, 3, 3)]);
  const pool = b.op('MaxPool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  const d = conv(b, pool, 4, 2, 1);
  const cat = b.op('Concat', [a, c, d], { axis: 1 });
  b.output(cat, [1, 8, 8, 8]);
  return { name: 'branch', model: makeModel(b.build(), 13), shapes: {} };
}

/** ResNet-style: two blocks of conv, BatchNorm, Relu, conv, BatchNorm, Add of the skip, Relu. */
export function residualModel(): Fixture {
  const b = new GraphBuilder('residual', 12);
  let x = b.input('x', [1, 4, 6, 6]);
  const bn = (v: string) =>
    b.op('BatchNormalization', [
      v,
      b.filled('scale', [4], 1.1),
      b.weight('shift', [4], 0.1),
      b.weight('mean', [4], 0.1),
      b.filled('var', [4], 0.9),
    ]);
  for (let k = 0; k < 2; k++) {
    const h = b.op('Relu', [bn(conv(b, x, 4, 4, 3))]);
    x = b.op('Relu', [b.op('Add', [bn(conv(b, h, 4, 4, 3)), x])]);
  }
  b.output(x, [1, 4, 6, 6]);
  return { name: 'residual', model: makeModel(b.build(), 13), shapes: {} };
}

/**
 * Two inputs and three outputs (one of them also read later), one weight shared by two
 * layers, a Constant (a Reshape target) read by two layers, and a dead node.
 */
export function multiIoModel(): Fixture {
  const b = new GraphBuilder('multi_io', 13);
  const x = b.input('x', [2, 6]);
  const y = b.input('y', [2, 6]);
  const shared = b.weight('shared', [6, 6], 0.5);
  const shape = b.op('Constant', [], { value: int64Tensor('target', [2], [3, 4]) });
  const m1 = b.op('MatMul', [x, shared]);
  const r1 = b.op('Reshape', [b.op('Relu', [m1]), shape]);
  const m2 = b.op('MatMul', [y, shared]);
  b.op('Neg', [m2]); // dead: nobody reads it
  const s = b.op('Add', [m2, m1]);
  const r2 = b.op('Reshape', [b.op('Sigmoid', [b.op('MatMul', [s, b.weight('w', [6, 6], 0.5)])]), shape]);
  b.output(m1, [2, 6]);
  b.output(r1, [3, 4]);
  b.output(r2, [3, 4]);
  return { name: 'multi_io', model: makeModel(b.build(), 13), shapes: {} };
}

/** A symbolic batch dim `N` and no value_info at all: block types must be inferred. */
export function symbolicModel(): Fixture {
  const b = new GraphBuilder('symbolic', 14);
  const x = b.input('x', ['N', 8]);
  const h = b.op('Relu', [b.op('MatMul', [x, b.weight('w', [8, 5], 0.5)])]);
  const y = b.op('Softmax', [b.op('MatMul', [h, b.weight('w', [5, 3], 0.5)])], { axis: -1 });
  b.output(y, ['N', 3]);
  return { name: 'symbolic', model: makeModel(b.build(), 13), shapes: { x: [3, 8] } };
}

/** An If whose branches read a value of an earlier layer from the outer scope. */
export function ifModel(): Fixture {
  const b = new GraphBuilder('if', 15);
  const x = b.input('x', [1, 4]);
  const cond = b.input('cond', [], DataType.BOOL);
  const h = b.op('MatMul', [x, b.weight('w', [4, 4], 0.5)]);
  const branch = (op: string) => {
    const g = new GraphBuilder(`${op}_branch`);
    const out = g.op(op, [h]);
    g.output(out, [1, 4]);
    return g.build();
  };
  const chosen = b.op('If', [cond], { then_branch: branch('Sigmoid'), else_branch: branch('Neg') });
  const y = b.op('MatMul', [chosen, b.weight('w', [4, 2], 0.5)]);
  b.output(y, [1, 2]);
  return { name: 'if', model: makeModel(b.build(), 13), shapes: {} };
}

/**
 * The whole network inside an `If` on a sample-rate input: four conv layers at 16 kHz, two at
 * any other rate. Unpinned, it is one layer; with `rate` pinned, the layers of one branch.
 */
export function rateSwitchModel(): Fixture {
  const b = new GraphBuilder('rate_switch', 21);
  const x = b.input('x', [1, 2, 8, 8]);
  const rate = b.input('rate', [], DataType.INT64);
  const is16k = b.op('Equal', [rate, b.int64s('rate_16k', [16000])]);
  const stack = (name: string, depth: number) => {
    const g = new GraphBuilder(name, depth);
    let h = x;
    for (let k = 0; k < depth; k++) {
      h = g.op('Relu', [g.op('Conv', [h, g.weight('w', [2, 2, 3, 3], 0.4)], { pads: [1, 1, 1, 1] })]);
    }
    g.output(h, [1, 2, 8, 8]);
    return g.build();
  };
  const y = b.op('If', [is16k], { then_branch: stack('at_16k', 4), else_branch: stack('other_rates', 2) });
  b.output(b.op('Sigmoid', [y]), [1, 2, 8, 8]);
  return { name: 'rate_switch', model: makeModel(b.build(), 13), shapes: {} };
}

/** A bias that is both an initializer and a graph input (an overridable default), read by two layers. */
export function initializerInputModel(): Fixture {
  const b = new GraphBuilder('init_input', 16);
  const x = b.input('x', [2, 3]);
  const bias = b.weight('bias', [4], 0.5);
  b.input(bias, [4]);
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.weight('w', [3, 4], 0.5)]), bias])]);
  const y = b.op('Add', [b.op('MatMul', [h, b.weight('w', [4, 4], 0.5)]), bias]);
  b.output(y, [2, 4]);
  return { name: 'initializer_input', model: makeModel(b.build(), 13), shapes: {} };
}

/** The residual model as an IR 3 / opset 7 file writes it: every initializer also a graph input. */
export function legacyModel(): Fixture {
  const modern = residualModel().model;
  const graph = modern.graph as NonNullable<ModelProto['graph']>;
  const initInputs = graph.initializer.map((t) => valueInfo(t.name, t.dataType, t.dims.map(Number)));
  return {
    name: 'legacy_ir3_opset7',
    model: create(ModelProtoSchema, {
      ...modern,
      irVersion: 3n,
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 7n })],
      graph: create(GraphProtoSchema, { ...graph, input: [...graph.input, ...initInputs] }),
    }),
    shapes: {},
  };
}

/** No heavy node at all: elementwise ops only. */
export function cheapOnlyModel(): Fixture {
  const b = new GraphBuilder('cheap', 17);
  const x = b.input('x', [2, 5]);
  const y = b.op('Tanh', [b.op('Mul', [b.op('Exp', [x]), b.op('Sigmoid', [x])])]);
  b.output(y, [2, 5]);
  return { name: 'cheap_only', model: makeModel(b.build(), 13), shapes: {} };
}

/** Token ids (int64, as BERT's inputs) looked up in an embedding table, then a MatMul. */
export function embeddingModel(): Fixture {
  const b = new GraphBuilder('embedding', 23);
  const ids = b.input('ids', [1, 6], DataType.INT64);
  const rows = b.op('Gather', [b.weight('table', [4, 3], 0.5), ids], { axis: 0 });
  const y = b.op('MatMul', [rows, b.weight('proj', [3, 5], 0.5)]);
  b.output(y, [1, 6, 5]);
  return { name: 'embedding', model: makeModel(b.build(), 13), shapes: {} };
}

export function allFixtures(): Fixture[] {
  return [
    branchModel(),
    residualModel(),
    multiIoModel(),
    symbolicModel(),
    ifModel(),
    initializerInputModel(),
    legacyModel(),
    cheapOnlyModel(),
  ];
}
