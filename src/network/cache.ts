/**
 * The on-disk record of each attachment, written durably *before* the first plugin runs and
 * updated with the result after ADD, so DEL gets the same config and arguments as ADD even
 * after a crash, a restart, or a change in the conf dir.
 */
import { mkdir, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably } from '../common/durable-file.js';
import { BerthError, InvalidArgumentError, errorMessage } from '../common/errors.js';
import type { NetworkConfList } from './conflist.js';
import type { CniResult } from './types.js';

/** Everything needed to repeat an attachment's plugins for DEL or CHECK. */
export interface CachedAttachment {
  kind: 'berth.cni.attachment/v1';
  containerId: string;
  ifName: string;
  netns: string;
  cniArgs: string;
  /** Values for the plugins' declared capabilities (runtimeConfig). */
  capabilityArgs: Record<string, unknown>;
  network: Omit<NetworkConfList, 'source'> & { source: string };
  /** The final result of ADD; null while ADD has not finished (or failed). */
  result: CniResult | null;
}

const KIND = 'berth.cni.attachment/v1';
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const IF_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** One file per (containerId, ifName) under `<dir>/<containerId>/<ifName>.json`. */
export class AttachmentCache {
  constructor(readonly dir: string) {}

  private file(containerId: string, ifName: string): string {
    // Both become path components (and plugin arguments): the CNI spec's container id grammar,
    // and a Linux interface name.
    if (!CONTAINER_ID.test(containerId)) {
      throw new InvalidArgumentError(
        `CNI container id ${JSON.stringify(containerId)} must match ${CONTAINER_ID.source}`,
      );
    }
    if (!IF_NAME.test(ifName) || ifName === '.' || ifName === '..') {
      throw new InvalidArgumentError(
        `interface name ${JSON.stringify(ifName)} must be 1-15 letters, digits, '_', '.' or '-'`,
      );
    }
    return path.join(this.dir, containerId, `${ifName}.json`);
  }

  /** Durably replaces the record: temp file, fsync, rename, fsync of the directory. */
  async write(entry: CachedAttachment): Promise<void> {
    const file = this.file(entry.containerId, entry.ifName);
    const dir = path.dirname(file);
    await mkdir(dir, { recursive: true });
    await replaceFileDurably(file, JSON.stringify(entry));
  }

  /** The record, or undefined when the attachment was never started or is fully deleted. */
  async read(containerId: string, ifName: string): Promise<CachedAttachment | undefined> {
    const file = this.file(containerId, ifName);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const entry = JSON.parse(text) as CachedAttachment;
      if (entry.kind !== KIND) throw new Error(`unknown kind ${JSON.stringify(entry.kind)}`);
      return entry;
    } catch (err) {
      throw new BerthError('internal', `CNI attachment cache ${file} is unreadable: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Forgets the attachment; idempotent. */
  async remove(containerId: string, ifName: string): Promise<void> {
    const file = this.file(containerId, ifName);
    await rm(file, { force: true });
    // A write cut short by a crash leaves its temp file; it would keep the dir forever.
    const dir = path.dirname(file);
    const tmpPrefix = `${path.basename(file)}.tmp-`;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f.startsWith(tmpPrefix)) await rm(path.join(dir, f), { force: true });
    }
    // The per-container dir goes once its last interface is gone.
    await rmdir(dir).catch(() => undefined);
  }

  /** Every cached attachment, e.g. for DEL of sandboxes whose teardown a crash interrupted. */
  async list(): Promise<{ containerId: string; ifName: string }[]> {
    const out: { containerId: string; ifName: string }[] = [];
    const ids = await readdir(this.dir).catch(() => [] as string[]);
    for (const containerId of ids) {
      const files = await readdir(path.join(this.dir, containerId)).catch(() => [] as string[]);
      for (const f of files)
        if (f.endsWith('.json')) out.push({ containerId, ifName: f.slice(0, -'.json'.length) });
    }
    return out.sort((a, b) => (a.containerId + a.ifName).localeCompare(b.containerId + b.ifName));
  }
}
