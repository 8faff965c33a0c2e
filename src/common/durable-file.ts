/**
 * Replacing a small file so that a crash (and, for the durable kind, a power loss) never leaves
 * it half written.
 */
import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `content`: afterwards it holds the old content or the new one, whole, and
 * the new one survives a power loss once this resolves. Written to `<file>.tmp-<pid>-<random>`
 * (callers may sweep `<file>.tmp-*` leftovers of a crash), fsynced, renamed into place, and the
 * directory fsynced so the rename itself is on disk.
 */
export async function replaceFileDurably(file: string, content: string, mode = 0o600): Promise<void> {
  await replace(file, content, mode, true);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Replaces `file` with `content` so that a reader or a process killed meanwhile sees the old
 * content or the new, whole; not fsynced: for runtime state (under /run, gone at reboot anyway),
 * where a crash of berthd, not a power loss, is what must not leave a half-written record.
 */
export async function replaceFileAtomically(file: string, content: string, mode = 0o600): Promise<void> {
  await replace(file, content, mode, false);
}

async function replace(file: string, content: string, mode: number, sync: boolean): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(content);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
