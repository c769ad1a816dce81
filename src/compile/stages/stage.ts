import type { Assembly } from './assembly.js';

/** One empirical correction of the assembly: what it corrects, and how it calibrates itself. */
export interface CorrectionStage {
  readonly name: string;
  /** The physical effect it corrects, in one paragraph (docs/compiler.md prints it). */
  readonly corrects: string;
  /** The assembly with this stage's field calibrated from the measurements. */
  apply(a: Assembly): Assembly;
}
