export { FAMILIES as ZOO_FAMILIES } from './families/index.js';
export {
  ZOO_MODELS,
  ZOO_MODEL_NAMES,
  buildZooModel,
  buildTestModel,
  isZooModelName,
  zooFamily,
  zooModelInfo,
  type ZooModelName,
  type ZooModelInfo,
  type BuiltModel,
} from './models.js';
export {
  type ModelFamily,
  type SimulatorData,
  type PublishedFigures,
  type BuildOptions,
  type TensorSpec,
} from './family.js';
export type { LayerShape } from './shapes.js';
export { writeZooRepository, type ModelConfig, type WrittenModel, type ZooProgress } from './repository.js';
