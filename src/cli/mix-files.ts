import { findModels, modelNameFor } from '../compile/index.js';
import { VeltairError } from '../errors/index.js';

/**
 * The model files of `names` in `repository`, in that order. A name the repository lacks is
 * `unknown_model`, its message ending with `need` (what the command needs the model for).
 */
export async function mixFiles(
  repository: string,
  names: readonly string[],
  need: string,
): Promise<{ name: string; path: string }[]> {
  const files = new Map((await findModels(repository)).map((f) => [modelNameFor(f), f]));
  return names.map((name) => {
    const path = files.get(name);
    if (!path) throw new VeltairError('unknown_model', `${repository} has no model '${name}' ${need}`);
    return { name, path };
  });
}
