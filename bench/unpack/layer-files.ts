/**
 * The files the unpack benchmarks apply: ~100 MB in three groups (2,000 × 4 KiB in 50 directories,
 * 500 × 64 KiB, 20 × 3 MiB), so per-entry cost and raw write speed both show. Generated fresh
 * each run, never downloaded; half of each file is random and half repetitive, so the layer
 * compresses roughly like a mix of binaries and text.
 */
import { randomBytes } from 'node:crypto';
import type { FileSpec } from '../../test/helpers/oci-images.js';

/** Describes the groups for the report header. */
export const LAYER_FILES_SUMMARY = '2,572 entries: 2,000 × 4 KiB, 500 × 64 KiB, 20 × 3 MiB, 52 directories';

function content(size: number): Buffer {
  const half = Math.floor(size / 2);
  return Buffer.concat([randomBytes(half), Buffer.alloc(size - half, 'berth layer content ')]);
}

/** The three groups (small, medium, large files), each a valid layer on its own. */
export function layerFileGroups(): FileSpec[][] {
  const small: FileSpec[] = [];
  for (let d = 0; d < 50; d++) {
    small.push({ path: `usr/share/d${d}/`, type: 'directory' });
    for (let f = 0; f < 40; f++) small.push({ path: `usr/share/d${d}/small${f}`, content: content(4096) });
  }
  const medium: FileSpec[] = [{ path: 'usr/lib/', type: 'directory' }];
  for (let f = 0; f < 500; f++) medium.push({ path: `usr/lib/medium${f}.so`, content: content(64 * 1024) });
  const large: FileSpec[] = [{ path: 'opt/', type: 'directory' }];
  for (let f = 0; f < 20; f++) large.push({ path: `opt/large${f}.bin`, content: content(3 * 1024 * 1024) });
  return [small, medium, large];
}
