import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto, type GraphProto } from 'onnx-buf';
import { modelFileError } from './errors.js';

export type { ModelProto, GraphProto };

/** Decodes ONNX bytes; `source` names the bytes in errors (a path, usually). */
export function decodeModel(bytes: Uint8Array, source = '<bytes>'): ModelProto {
  if (bytes.length === 0) throw modelFileError(source, 'file is empty');
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    throw modelFileError(source, `not an ONNX model (protobuf decode failed: ${(err as Error).message})`);
  }
  if (!model.graph) throw modelFileError(source, 'not an ONNX model (no graph)');
  if (model.graph.node.length === 0) throw modelFileError(source, 'graph has no nodes');
  if (model.irVersion === 0n) throw modelFileError(source, 'not an ONNX model (ir_version missing)');
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

export async function loadModel(path: string): Promise<ModelProto> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw modelFileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`);
  }
  return decodeModel(bytes, path);
}

export async function saveModel(model: ModelProto, path: string): Promise<Uint8Array> {
  const bytes = encodeModel(model);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes;
}

/** Content hash of the serialized model: the key under which its profiles are cached. */
export function modelHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

export function makeModel(graph: GraphProto, opset: number, producer = 'veltair'): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: producer,
    opsetImport: [{ domain: '', version: BigInt(opset) }],
    graph,
  });
}

/** The default-domain opset version the model imports (ONNX's "ai.onnx"). */
export function opsetVersion(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}
