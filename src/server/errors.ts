import * as grpc from '@grpc/grpc-js';
import type { ErrorClass } from '../errors/index.js';

/** The HTTP status of each error class: the REST API answers every error through this table. */
export const HTTP_STATUS: Readonly<Record<ErrorClass, number>> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 413,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The gRPC status of each error class: the gRPC service answers every error through this table. */
export const GRPC_STATUS: Readonly<Record<ErrorClass, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  NOT_FOUND: grpc.status.NOT_FOUND,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
};
