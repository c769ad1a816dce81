export { modelFileError } from './errors.js';
export {
  decodeModel,
  encodeModel,
  loadModel,
  saveModel,
  modelHash,
  makeModel,
  opsetVersion,
  type ModelProto,
  type GraphProto,
} from './model.js';
export {
  GraphIndex,
  topologicalOrder,
  nodeReads,
  nodeWrites,
  subgraphsOf,
  outerScopeReads,
  tensorTypeOf,
  attr,
  attrInt,
  attrInts,
  elementCount,
  type Dim,
  type TensorType,
  type NodeProto,
  type ValueInfoProto,
  type TensorProto,
  type AttributeProto,
} from './graph.js';
export {
  DataType,
  ORT_TYPE_NAME,
  ELEMENT_BYTES,
  ORT_ELEMENT_BYTES,
  elementBytes,
  float32Tensor,
  int64Tensor,
  tensorValues,
  loadTensor,
  freeTensorMemory,
  type TensorData,
} from './tensor.js';
export { GraphBuilder, makeAttribute, valueInfo, seededRandom, type AttrValue } from './builder.js';
export {
  countMacs,
  countParameters,
  analyzeMacs,
  nodeMacs,
  MAC_OPS,
  type MacReport,
  type NodeMacs,
} from './macs.js';
