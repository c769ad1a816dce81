/** A model file could not be read as a usable ONNX model. `file` names it; the message says why. */
export class OnnxModelError extends Error {
  override readonly name = 'OnnxModelError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}
