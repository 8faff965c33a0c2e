/**
 * Where a module meant to run on its own (a child process, a worker thread) is, as JavaScript:
 * beside the caller when the caller is built, or in dist/ when the caller runs from its sources
 * (the tests do). Undefined when it is not built.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `callerUrl`: the caller's import.meta.url; `srcDir`: the module's directory below the repository, e.g. `src/unpack`. */
export function builtModule(callerUrl: string, fileName: string, srcDir: string): string | undefined {
  return [new URL(`./${fileName}`, callerUrl), new URL(`../../dist/${srcDir}/${fileName}`, callerUrl)]
    .map((u) => fileURLToPath(u))
    .find((f) => existsSync(f));
}
