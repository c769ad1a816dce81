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
export { writeZooRepository, type ModelConfig, type WrittenModel, type ZooProgress } from './repository.js';
