/**
 * Durable per-sandbox records at `<state>/sandboxes/<id>/sandbox.json`: what was asked for and
 * what each step produced, so every step can be repeated (or undone) after a restart.
 */
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, errorMessage } from '../common/errors.js';
import type { AttachedIp } from '../network/types.js';
import type { NormalizedSandboxConfig } from './config.js';
import type { SandboxFilePaths } from './files.js';
import { assertSandboxId, type PinnedNamespaces } from './namespaces.js';

/**
 * A sandbox's lifecycle state: `created` while steps are running (or after a crash mid-create),
 * `ready` once the network is attached, `notready` after stop.
 */
export type SandboxState = 'created' | 'ready' | 'notready';

export interface SandboxRecord {
  id: string;
  config: NormalizedSandboxConfig;
  createdAt: string;
  state: SandboxState;
  namespaces?: PinnedNamespaces;
  /** runc's cgroupsPath for the sandbox's containers, e.g. `/berth/pod-<id>` or the caller's parent. */
  cgroupPath?: string;
  /** The caller's cgroup parent was missing and Berth made it: the sandbox's removal removes it. */
  ownsCgroupParent?: boolean;
  files?: SandboxFilePaths;
  network?: { name: string; ifName: string; ips: AttachedIp[] };
}

export class SandboxStore {
  readonly dir: string;
  /**
   * Records read or written by this store, so a ListPodSandbox (kubelet relists every second)
   * reads no files: reading each pod's file made it 7.4 ms with 50 pods against containerd's
   * 0.7 ms (bench/cri/kept-connection.ts). This store is the only writer (berthd holds the root's
   * lock); callers get copies (parsed from the kept text), so a record they change is not changed
   * here until put.
   */
  private readonly cache = new Map<string, string>();
  /** Bumped by each put and delete: a read from disk that overlapped one is not cached. */
  private changes = 0;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'sandboxes');
  }

  sandboxDir(id: string): string {
    assertSandboxId(id);
    return path.join(this.dir, id);
  }

  async get(id: string): Promise<SandboxRecord | undefined> {
    const file = path.join(this.sandboxDir(id), 'sandbox.json');
    const cached = this.cache.get(id);
    if (cached !== undefined) return JSON.parse(cached) as SandboxRecord;
    const changesBefore = this.changes;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const record = JSON.parse(text) as SandboxRecord;
      if (this.changes === changesBefore) this.cache.set(id, text);
      return record;
    } catch (err) {
      throw new BerthError('internal', `sandbox record ${file} is unreadable: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Writes the record durably (fsync before rename), creating the sandbox dir if needed. */
  async put(record: SandboxRecord): Promise<void> {
    const dir = this.sandboxDir(record.id);
    this.changes++;
    this.cache.delete(record.id);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'sandbox.json');
    const tmp = `${file}.tmp-${process.pid}`;
    const text = JSON.stringify(record, null, 1);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    this.cache.set(record.id, text);
  }

  async list(): Promise<SandboxRecord[]> {
    const ids = await readdir(this.dir).catch(() => [] as string[]);
    const records: SandboxRecord[] = [];
    for (const id of ids.sort()) {
      const r = await this.get(id).catch(() => undefined);
      if (r) records.push(r);
    }
    return records;
  }

  /** Deletes the sandbox dir with everything left in it; idempotent. */
  async delete(id: string): Promise<void> {
    this.changes++;
    this.cache.delete(id);
    await rm(this.sandboxDir(id), { recursive: true, force: true });
  }
}
