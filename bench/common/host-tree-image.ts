/**
 * A many-file, multi-layer image made of this host's own Debian files (Python's library, Perl's,
 * the zone database, manual pages): real file-size and directory shapes, like a distribution base
 * image, built here so no benchmark depends on a download. Regular files, directories and
 * symbolic links keep their modes and targets; anything else is left out.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { FileSpec } from '../../test/helpers/oci-images.js';

/** The layers, bottom first: each a host folder tree (the folders must exist on a Debian host). */
export const HOST_TREE_LAYERS: readonly (readonly string[])[] = [
  ['/usr/lib/python3', '/usr/share/zoneinfo'],
  ['/usr/share/perl'],
  ['/usr/share/man/man1', '/usr/share/man/man3', '/usr/share/man/man8'],
];

/** The files of one layer: every entry under `roots`, with the parent folders they need. */
export function hostTreeLayer(roots: readonly string[]): FileSpec[] {
  const files: FileSpec[] = [];
  const dirs = new Set<string>();
  const addParents = (rel: string) => {
    const parts = rel.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        files.push({ path: `${d}/`, type: 'directory', mode: 0o755 });
      }
    }
  };
  const walk = (abs: string) => {
    const st = lstatSync(abs);
    const rel = abs.replace(/^\//, '');
    if (st.isDirectory()) {
      addParents(`${rel}/x`);
      for (const name of readdirSync(abs).sort()) walk(path.join(abs, name));
    } else if (st.isSymbolicLink()) {
      addParents(rel);
      files.push({ path: rel, type: 'symlink', linkname: readlinkSync(abs) });
    } else if (st.isFile()) {
      addParents(rel);
      files.push({ path: rel, content: readFileSync(abs), mode: st.mode & 0o7777 });
    }
  };
  for (const root of roots) walk(root);
  return files;
}

/** Entries and bytes of a layer, for the report header. */
export function describeLayer(files: FileSpec[]): { entries: number; bytes: number } {
  let bytes = 0;
  for (const f of files)
    bytes += typeof f.content === 'string' ? Buffer.byteLength(f.content) : (f.content?.length ?? 0);
  return { entries: files.length, bytes };
}
