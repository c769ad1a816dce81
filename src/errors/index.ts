/**
 * One error type for all of veltair. Every failure a caller can see carries a stable code from
 * `ERROR_CODES`; the code's class (named after gRPC's canonical codes, which are transport
 * neutral) is what the server maps to HTTP and gRPC statuses and the CLI to exit statuses, each
 * in one place. docs/errors.md documents the table; a test fails when the two drift.
 */

/** What kind of failure a code is, independent of how it travels. */
export type ErrorClass =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export interface ErrorCodeEntry {
  readonly class: ErrorClass;
  /** What happened, in the caller's terms. */
  readonly what: string;
  /** What the caller should do about it. */
  readonly action: string;
}

export const ERROR_CODES = {
  usage: {
    class: 'INVALID_ARGUMENT',
    what: 'The command line does not parse: an unknown command or option, or a missing argument.',
    action: 'Correct the command; `veltair <command> --help` lists what it takes.',
  },
  invalid_argument: {
    class: 'INVALID_ARGUMENT',
    what: 'A value given to veltair is malformed or out of range (a flag, a granularity, a size, a rate).',
    action: 'Give a value in the range the message states.',
  },
  unknown_policy: {
    class: 'INVALID_ARGUMENT',
    what: 'No scheduling policy has the name given.',
    action: 'Use one of the names the message lists.',
  },
  unknown_workload: {
    class: 'INVALID_ARGUMENT',
    what: 'No workload mix has the name given.',
    action: 'Use light, medium, heavy or all.',
  },
  input_override: {
    class: 'INVALID_ARGUMENT',
    what: 'A pinned input shape or value does not fit the model (wrong rank, contradicts a fixed dimension, not numbers).',
    action: "Pin the shape or values the model's inputs declare.",
  },
  unknown_model: {
    class: 'NOT_FOUND',
    what: 'No model has the name given: not in the repository, not served, or not in the zoo.',
    action: 'Check the name against the repository index or `veltair zoo list`.',
  },
  unknown_version: {
    class: 'NOT_FOUND',
    what: 'The model exists but not in the version asked for.',
    action: "Ask for a version the model's metadata lists, or for none.",
  },
  no_route: {
    class: 'NOT_FOUND',
    what: 'The HTTP path is not part of the Open Inference Protocol or its extensions.',
    action: 'Check the path against docs/server.md.',
  },
  model_invalid: {
    class: 'FAILED_PRECONDITION',
    what: 'A model file cannot be used: missing, empty, not ONNX, or ONNX Runtime cannot load or run it.',
    action: 'Fix or replace the file the message names; the other models are not affected.',
  },
  partition_failed: {
    class: 'FAILED_PRECONDITION',
    what: 'The model cannot be cut into the blocks asked for (a range outside its layers, a value crossing a cut that cannot travel).',
    action: 'Serve or compile the model whole, or report the model to the developers.',
  },
  profile_unavailable: {
    class: 'FAILED_PRECONDITION',
    what: 'A compiled profile is missing, unreadable or does not describe the model at hand.',
    action: 'Compile the model for this machine, then run again.',
  },
  calibration_invalid: {
    class: 'FAILED_PRECONDITION',
    what: "The simulator's calibration data is malformed.",
    action: 'Restore the calibration files from the repository.',
  },
  load_failed: {
    class: 'FAILED_PRECONDITION',
    what: 'The server could not load a model from its repository folder.',
    action:
      "Read the reason in the message or the repository index, fix the model's folder, then load it again.",
  },
  model_unavailable: {
    class: 'FAILED_PRECONDITION',
    what: 'The model is known but not serving (it failed to load or is being unloaded).',
    action: 'Load the model again through the repository extension, or use another model.',
  },
  invalid_model_name: {
    class: 'INVALID_ARGUMENT',
    what: "A model name would reach outside the server's repository.",
    action: 'Use a folder name of the repository, without path separators.',
  },
  malformed_json: {
    class: 'INVALID_ARGUMENT',
    what: 'The request body is not valid JSON.',
    action: 'Send a JSON body as the Open Inference Protocol defines it.',
  },
  invalid_request: {
    class: 'INVALID_ARGUMENT',
    what: "The request's structure breaks the protocol (a field missing or of the wrong type).",
    action: 'Correct the field the message names.',
  },
  invalid_binary: {
    class: 'INVALID_ARGUMENT',
    what: "The binary tensor data does not match the JSON header's sizes.",
    action: 'Send `Inference-Header-Content-Length` and `binary_data_size` that match the bytes sent.',
  },
  invalid_parameter: {
    class: 'INVALID_ARGUMENT',
    what: 'A request parameter (`timeout`, `priority`) has a value the protocol does not allow.',
    action: 'Give `timeout` as a positive integer of microseconds and `priority` as a non-negative integer.',
  },
  unknown_input: {
    class: 'INVALID_ARGUMENT',
    what: 'The request names an input the model does not have.',
    action: "Send exactly the inputs of the model's metadata.",
  },
  duplicate_input: {
    class: 'INVALID_ARGUMENT',
    what: 'The request gives the same input twice.',
    action: 'Send each input once.',
  },
  missing_input: {
    class: 'INVALID_ARGUMENT',
    what: 'The request leaves out an input the model needs.',
    action: "Send every input of the model's metadata.",
  },
  shared_memory_disabled: {
    class: 'FAILED_PRECONDITION',
    what: 'The request uses system shared memory, which this server does not take from clients.',
    action: 'Start the server with `--allow-client-shm`, or send the tensors in the request.',
  },
  invalid_shared_memory: {
    class: 'INVALID_ARGUMENT',
    what: "A shared memory region or a tensor's place in one is wrong: a bad key, a missing object, an extent past its end, an output that does not fit.",
    action:
      'Register an existing /dev/shm object with an extent inside it, and give places inside the region.',
  },
  unknown_region: {
    class: 'INVALID_ARGUMENT',
    what: 'The request names a shared memory region that is not registered.',
    action: 'Register the region first (`/v2/systemsharedmemory/region/{name}/register`), or check its name.',
  },
  unknown_output: {
    class: 'INVALID_ARGUMENT',
    what: 'The request asks for an output the model does not have.',
    action: "Ask for outputs of the model's metadata, or for none to get them all.",
  },
  wrong_datatype: {
    class: 'INVALID_ARGUMENT',
    what: "An input's datatype differs from the model's.",
    action: "Send the datatype of the model's metadata.",
  },
  wrong_shape: {
    class: 'INVALID_ARGUMENT',
    what: "An input's shape does not fit the model's (rank, a fixed dimension, or a pinned one).",
    action: "Send the shape of the model's metadata.",
  },
  wrong_element_count: {
    class: 'INVALID_ARGUMENT',
    what: "An input's data holds more or fewer elements than its shape.",
    action: 'Send as many elements as the product of the shape.',
  },
  invalid_data: {
    class: 'INVALID_ARGUMENT',
    what: "An input's elements are not of its datatype (a string among numbers, a fraction in an integer tensor).",
    action: 'Send elements of the declared datatype.',
  },
  pinned_input: {
    class: 'INVALID_ARGUMENT',
    what: 'The model is served for fixed values of an input, and the request sends others.',
    action: "Send the values of the model's metadata (`pinned_inputs`), or serve the model unpinned.",
  },
  body_too_large: {
    class: 'RESOURCE_EXHAUSTED',
    what: "The request body is larger than the server's limit.",
    action: 'Send a smaller request, or start the server with a larger `--max-body-mib`.',
  },
  queue_full: {
    class: 'UNAVAILABLE',
    what: "The model's queue is at its limit.",
    action: 'Retry after the Retry-After delay, or send fewer requests.',
  },
  deadline_unreachable: {
    class: 'UNAVAILABLE',
    what: 'The query cannot finish by its deadline (QoS target or `timeout`), so it was turned away at once.',
    action: 'Retry after the Retry-After delay, or give a longer timeout.',
  },
  expired: {
    class: 'UNAVAILABLE',
    what: 'The query waited until it could no longer meet its deadline even alone (the machine was busier than predicted).',
    action: 'Retry after the Retry-After delay, or send fewer requests.',
  },
  model_loading: {
    class: 'UNAVAILABLE',
    what: 'The model is being loaded.',
    action: 'Retry after the Retry-After delay.',
  },
  shutting_down: {
    class: 'UNAVAILABLE',
    what: 'The server is stopping and takes no new requests.',
    action: 'Send the request to another replica, or retry once the server is back.',
  },
  remote_failed: {
    class: 'UNAVAILABLE',
    what: "The server under test answered with an error or not at all, or cannot serve the load's models.",
    action: "Read the server's message; check the server's URL and that it serves the models.",
  },
  server_exited: {
    class: 'UNAVAILABLE',
    what: 'A process that veltair started for a benchmark (a server, an in-process bench) exited or never became ready.',
    action: 'Read its log, quoted in the message.',
  },
  runtime_error: {
    class: 'INTERNAL',
    what: 'ONNX Runtime failed while running the model.',
    action: 'Check the model alone (`veltair verify`); report it if the model is sound.',
  },
  wrong_answer: {
    class: 'INTERNAL',
    what: "A query's answer differed from a direct whole-model run of the same input.",
    action: 'Report it with the model: block-by-block execution must match the whole model.',
  },
  policy_violation: {
    class: 'INTERNAL',
    what: "A scheduling policy made a decision the engine's rules forbid.",
    action: 'Report it with the policy named in the message.',
  },
  ledger_violation: {
    class: 'INTERNAL',
    what: 'The CPU ledger was asked to give out CPUs that are not free, or its trace shows an overlap.',
    action: 'Report it; it is a bug in the engine.',
  },
  zoo_family_invalid: {
    class: 'INTERNAL',
    what: 'A model family file of the zoo is malformed (a field missing or of the wrong kind, a name or order taken twice).',
    action: 'Fix the file the message names in src/zoo/families.',
  },
  internal: {
    class: 'INTERNAL',
    what: 'Something failed inside veltair or a library it uses.',
    action: 'Rerun with VELTAIR_DEBUG=1 for the stack and report it.',
  },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorOptions {
  /** Seconds after which a retry may succeed (overload, loading, deadlines). */
  readonly retryAfterS?: number;
  /** Facts a caller may act on, e.g. the file or policy concerned. */
  readonly details?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

export class VeltairError extends Error {
  override readonly name = 'VeltairError';
  readonly retryAfterS?: number;
  readonly details: Readonly<Record<string, string>>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterS = options.retryAfterS;
    this.details = options.details ?? {};
  }

  get errorClass(): ErrorClass {
    return ERROR_CODES[this.code].class;
  }
}

/** True when `err` is a VeltairError, with `code` when one is given. */
export function isVeltairError(err: unknown, code?: ErrorCode): err is VeltairError {
  return err instanceof VeltairError && (code === undefined || err.code === code);
}

/** Anything thrown, as a VeltairError: an uncoded error becomes `internal` with its first line. */
export function asVeltairError(err: unknown): VeltairError {
  if (err instanceof VeltairError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VeltairError('internal', message.split('\n')[0], { cause: err });
}
