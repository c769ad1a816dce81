export {
  ZOO_MODELS,
  ZOO_MODEL_NAMES,
  buildZooModel,
  buildTestModel,
  isZooModelName,
  zooModelInfo,
  type ZooModelName,
  type ZooModelInfo,
  type PublishedFigures,
  type BuildOptions,
  type BuiltModel,
  type TensorSpec,
} from './models.js';
/** Stage tables of the published architectures, for code that needs the shapes without a graph. */
export { MOBILENETV2_STAGES } from './architectures/mobilenetv2.js';
export { EFFICIENTNET_B0_STAGES } from './architectures/efficientnet.js';
export { writeZooRepository, type ModelConfig, type WrittenModel, type ZooProgress } from './repository.js';
