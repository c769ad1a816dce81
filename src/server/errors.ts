/**
 * What a request can fail with, independent of the transport: an HTTP status (gRPC maps from
 * it), a stable code, and a message that says what was wrong in the caller's terms.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds after which a retry may succeed (overload and deadlines). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}
