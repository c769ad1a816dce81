import { create } from '@bufbuild/protobuf';
import { ModelProtoSchema, GraphProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import {
  GraphIndex,
  ORT_TYPE_NAME,
  modelFileError,
  encodeModel,
  nodeWrites,
  valueInfo,
  type Dim,
  type ModelProto,
  type ValueInfoProto,
} from '../onnx/index.js';
import { openSession, type SessionConfig } from './session.js';

/** Loaded to read types back, never run. */
const PROBE_CONFIG: SessionConfig = { threads: 1, optimization: 'disabled', spinning: false };

const ONNX_TYPE_CODE = new Map(Object.entries(ORT_TYPE_NAME).map(([code, name]) => [name, Number(code)]));

/**
 * Returns a copy of `model` whose graph declares the type (and shape, where ONNX Runtime can
 * infer it) of every value its top-level nodes produce, so that any block can be cut out with
 * typed inputs.
 *
 * How: ORT accepts graph outputs without a type and infers them when it loads a model. We load
 * the model once, without optimizations, with every untyped intermediate value added as a graph
 * output, and read the types back from the session's output metadata. Nothing is executed.
 * Symbolic dims stay symbolic; a value whose rank ORT cannot infer keeps only its element type.
 * Non-tensor values (sequences, maps) stay untyped: blocks cannot exchange those.
 */
export async function inferValueTypes(model: ModelProto, source = '<model>'): Promise<ModelProto> {
  const graph = model.graph;
  if (!graph) throw modelFileError(source, 'no graph');
  const index = new GraphIndex(graph);
  const missing = graph.node
    .flatMap((n) => nodeWrites(n))
    .filter((name) => !index.outputNames.has(name) && !hasTensorType(index.valueInfo.get(name)));
  if (missing.length === 0) return model;
  const probe = create(ModelProtoSchema, {
    ...model,
    graph: create(GraphProtoSchema, {
      ...graph,
      output: [...graph.output, ...missing.map((name) => create(ValueInfoProtoSchema, { name }))],
    }),
  });
  // Not optimized: ORT would fold away the very values whose types are wanted.
  const session = await openSession(encodeModel(probe), PROBE_CONFIG, source, { quiet: true });
  try {
    const wanted = new Set(missing);
    const learned: ValueInfoProto[] = [];
    for (const meta of session.outputMetadata) {
      if (!wanted.has(meta.name) || !meta.isTensor) continue;
      const code = ONNX_TYPE_CODE.get(meta.type);
      if (code === undefined) continue;
      learned.push(valueInfo(meta.name, code, meta.shape.length > 0 ? meta.shape.map(toDim) : undefined));
    }
    const known = new Set(learned.map((v) => v.name));
    return create(ModelProtoSchema, {
      ...model,
      graph: create(GraphProtoSchema, {
        ...graph,
        valueInfo: [...graph.valueInfo.filter((v) => !known.has(v.name)), ...learned],
      }),
    });
  } finally {
    await session.release();
  }
}

function hasTensorType(info: ValueInfoProto | undefined): boolean {
  return info?.type?.value.case === 'tensorType' && info.type.value.value.elemType !== 0;
}

function toDim(d: number | string): Dim {
  if (typeof d === 'number') return d >= 0 ? d : null;
  return d === '' ? null : d;
}
