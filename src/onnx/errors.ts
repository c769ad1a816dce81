import { VeltairError } from '../errors/index.js';

/** A model file that cannot be used as an ONNX model: `file` names it, `problem` says why. */
export function modelFileError(file: string, problem: string): VeltairError {
  return new VeltairError('model_invalid', `${file}: ${problem}`, { details: { file } });
}
