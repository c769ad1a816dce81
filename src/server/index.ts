export { VeltairServer, NAIVE_POLICY, SERVER_NAME, SERVER_VERSION, type ServerOptions } from './server.js';
export { HTTP_STATUS, GRPC_STATUS } from './errors.js';
export { readModelSettings } from './repository.js';
export {
  scanRepository,
  isModelName,
  DEFAULT_MAX_QUEUE,
  type RepositoryModel,
  type ModelSettings,
} from './repository.js';
export { type TensorMetadata } from './tensors.js';
export { type GrpcEndpoint } from './grpc.js';
export { OPERATING_BLOCKS } from './backend.js';
