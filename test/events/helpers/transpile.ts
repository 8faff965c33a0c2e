/**
 * Transpiles TypeScript sources to plain ESM JavaScript in a temporary tree, so a child
 * process can run the real code with plain `node` (vitest transforms only its own process).
 * node_modules is linked beside the output so package imports resolve.
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(p);
    else if (entry.name.endsWith('.ts')) yield p;
  }
}

/** Transpiles every .ts under the given repo-relative folders into `outDir`, keeping the layout. */
export async function transpileTree(outDir: string, folders: string[]): Promise<void> {
  for (const folder of folders) {
    for await (const file of tsFiles(join(REPO, folder))) {
      const out = ts.transpileModule(await readFile(file, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: false,
        },
        fileName: file,
      });
      const target = join(outDir, relative(REPO, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, out.outputText);
    }
  }
  await symlink(join(REPO, 'node_modules'), join(outDir, 'node_modules'));
}
