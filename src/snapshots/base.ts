/**
 * Shared bookkeeping of the overlayfs and native snapshotters: keys, kinds, parents, ids,
 * persistence and crash leftovers. Subclasses decide how data directories are filled and mounted.
 *
 * Crash safety: directories are created before their record is written and removed after it is
 * deleted, so a crash leaves at worst a directory without a record, which `open` deletes. Power
 * loss: committed data reaches the disk behind the commit (sync-behind.ts); `open` drops what a
 * lost sync left torn.
 */
import { crashPoint } from '../common/crash-hooks.js';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SnapshotExistsError,
  SnapshotHasChildrenError,
  SnapshotKindError,
  SnapshotNotFoundError,
} from './errors.js';
import { MetaStore, validateKey, type SnapshotRecord } from './metastore.js';
import { assertMountablePath, type Mount } from './mount.js';
import { Mutex } from './mutex.js';
import type {
  SnapshotEvent,
  SnapshotInfo,
  SnapshotKind,
  SnapshotterOpenOptions,
  SnapshotOptions,
  Snapshotter,
  SnapshotterType,
  SnapshotUsage,
} from './snapshotter.js';
import { parseUnsyncedLabel, SyncBehind, UNSYNCED_LABEL } from './sync-behind.js';
import { diskUsage, diskUsageOf } from './usage.js';

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly type: SnapshotterType;
  private readonly lock = new Mutex();
  /** Keys being prepared right now: reserved so a concurrent prepare of the same key fails fast. */
  private readonly pending = new Set<string>();

  protected readonly meta: MetaStore;
  private readonly syncBehind: SyncBehind;
  readonly lostAtOpen: readonly string[];

  protected constructor(
    readonly root: string,
    store: OpenedStore,
    private readonly opts: SnapshotterOpenOptions = {},
  ) {
    this.meta = store.meta;
    this.syncBehind = store.syncBehind;
    this.lostAtOpen = store.lost;
  }

  private async emit(event: SnapshotEvent): Promise<void> {
    await this.opts.onEvent?.(event);
  }

  /**
   * Creates `<root>/metadata` and `<root>/snapshots`, drops committed snapshots a power loss may
   * have torn (sync-behind.ts) with everything built on them, and removes directories a crash
   * left without a record.
   */
  protected static async openStore(root: string, opts: SnapshotterOpenOptions = {}): Promise<OpenedStore> {
    assertMountablePath(root);
    await mkdir(join(root, 'snapshots'), { recursive: true });
    const meta = await MetaStore.open(join(root, 'metadata'));
    const syncBehind = await SyncBehind.open(
      root,
      meta.all().map((r) => r.labels[UNSYNCED_LABEL]),
      {
        ...(opts.bootId !== undefined ? { bootId: opts.bootId } : {}),
        ...(opts.syncBehindDelayMs !== undefined ? { delayMs: opts.syncBehindDelayMs } : {}),
      },
    );
    const lost = await BaseSnapshotter.dropUntrusted(meta, syncBehind);
    const known = meta.ids();
    for (const dir of await readdir(join(root, 'snapshots'))) {
      meta.bumpPast(Number(dir));
      if (!known.has(dir)) await rm(join(root, 'snapshots', dir), { recursive: true, force: true });
    }
    return { meta, syncBehind, lost };
  }

  /**
   * Deletes the records of committed snapshots whose data a power loss may have torn, and of
   * their descendants (their directories go with the other recordless ones); clears the label of
   * those an earlier boot's sync covered. Returns the names dropped.
   */
  private static async dropUntrusted(meta: MetaStore, sync: SyncBehind): Promise<string[]> {
    const lost = new Set<string>();
    for (const rec of meta.all()) {
      const label = rec.labels[UNSYNCED_LABEL];
      if (label === undefined) continue;
      if (!sync.trusted(label)) lost.add(rec.name);
      else if (parseUnsyncedLabel(label)?.boot !== sync.boot) {
        const { [UNSYNCED_LABEL]: _synced, ...labels } = rec.labels;
        await meta.put({ ...rec, labels });
      }
    }
    for (let grew = lost.size > 0; grew;) {
      grew = false;
      for (const rec of meta.all())
        if (!lost.has(rec.name) && rec.parent !== undefined && lost.has(rec.parent)) {
          lost.add(rec.name);
          grew = true;
        }
    }
    for (const name of lost) await meta.delete(name);
    return [...lost].sort();
  }

  /** Waits until every committed snapshot's data is on disk (the sync behind the commits). */
  flush(): Promise<void> {
    return this.syncBehind.flush();
  }

  async whileWriting<T>(write: () => Promise<T>): Promise<T> {
    const release = this.syncBehind.hold();
    try {
      return await write();
    } finally {
      release();
    }
  }

  /** Fills the new snapshot's directory `<root>/snapshots/<id>`; `parents` are the parent chain, nearest first. */
  protected abstract populate(
    id: string,
    kind: SnapshotKind,
    parents: readonly SnapshotRecord[],
  ): Promise<void>;

  /** The mounts of an active snapshot or view given its parent chain, nearest first. */
  protected abstract mountsOf(rec: SnapshotRecord, parents: readonly SnapshotRecord[]): Mount[];

  protected snapshotDir(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  protected fsDir(id: string): string {
    return join(this.root, 'snapshots', id, 'fs');
  }

  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create('active', key, parent, opts);
  }

  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create('view', key, parent, opts);
  }

  private async create(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    opts?: SnapshotOptions,
  ): Promise<Mount[]> {
    validateKey(key);
    const { id, chain } = await this.lock.run(async () => {
      if (this.meta.get(key) || this.pending.has(key)) throw new SnapshotExistsError(key);
      const chain = parent === undefined ? [] : this.chainFrom(parent);
      this.pending.add(key);
      return { id: this.meta.allocateId(), chain };
    });
    try {
      // The copy (native) runs outside the lock so concurrent prepares overlap.
      await this.populate(id, kind, chain);
      const now = new Date().toISOString();
      const rec: SnapshotRecord = {
        name: key,
        id,
        kind,
        ...(parent !== undefined ? { parent } : {}),
        labels: { ...opts?.labels },
        created: now,
        updated: now,
      };
      await this.lock.run(async () => {
        // The parent may have been removed while we copied: it had no children yet.
        if (parent !== undefined && this.meta.get(parent)?.kind !== 'committed')
          throw new SnapshotNotFoundError(parent, 'parent snapshot');
        await this.meta.put(rec);
        await this.emit({
          topic: '/snapshot/prepare',
          snapshotter: this.type,
          key,
          ...(parent !== undefined ? { parent } : {}),
          kind: kind === 'view' ? 'view' : 'active',
        });
      });
      return this.mountsOf(rec, chain);
    } catch (err) {
      await rm(this.snapshotDir(id), { recursive: true, force: true });
      throw err;
    } finally {
      this.pending.delete(key);
    }
  }

  /** The committed chain starting at `name`, nearest first. */
  private chainFrom(name: string): SnapshotRecord[] {
    const chain: SnapshotRecord[] = [];
    let cur: string | undefined = name;
    while (cur !== undefined) {
      const rec = this.meta.get(cur);
      if (!rec || rec.kind !== 'committed')
        throw new SnapshotNotFoundError(cur, chain.length === 0 ? 'parent snapshot' : 'ancestor snapshot');
      chain.push(rec);
      cur = rec.parent;
    }
    return chain;
  }

  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    validateKey(name);
    return this.lock.run(async () => {
      const rec = this.meta.get(key);
      if (!rec) throw new SnapshotNotFoundError(key, 'active snapshot');
      if (rec.kind !== 'active') throw new SnapshotKindError(key, rec.kind, 'commit');
      if (this.meta.get(name) || this.pending.has(name)) throw new SnapshotExistsError(name);
      const committed: SnapshotRecord = {
        ...rec,
        name,
        kind: 'committed',
        // Until the sync behind it covers this commit (trusted at open only then after a reboot).
        labels: { ...rec.labels, ...opts?.labels, [UNSYNCED_LABEL]: this.syncBehind.labelForCommit() },
        updated: new Date().toISOString(),
      };
      // Written before the active record goes: a crash in between leaves both, and open keeps the committed one.
      await this.meta.put(committed);
      if (this.opts.crashRoot !== undefined) crashPoint(this.opts.crashRoot, 'snapshot:commit-written');
      await this.meta.delete(key);
      await this.emit({ topic: '/snapshot/commit', snapshotter: this.type, key, name });
    });
  }

  remove(key: string): Promise<void> {
    return this.lock.run(async () => {
      const rec = this.meta.get(key);
      if (!rec) throw new SnapshotNotFoundError(key);
      const children = this.meta.children(key);
      if (children.length > 0) throw new SnapshotHasChildrenError(key, children);
      await this.meta.delete(key);
      await rm(this.snapshotDir(rec.id), { recursive: true, force: true });
      await this.emit({ topic: '/snapshot/remove', snapshotter: this.type, key });
    });
  }

  async mounts(key: string): Promise<Mount[]> {
    const rec = this.meta.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    if (rec.kind === 'committed') throw new SnapshotKindError(key, rec.kind, 'mount');
    return this.mountsOf(rec, rec.parent === undefined ? [] : this.chainFrom(rec.parent));
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const rec = this.meta.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    return publicInfo(rec);
  }

  async usage(key: string): Promise<SnapshotUsage> {
    const rec = this.meta.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    return diskUsage(this.fsDir(rec.id));
  }

  async usageOf(keys: readonly string[]): Promise<Map<string, SnapshotUsage>> {
    const dirs = new Map<string, string>();
    for (const key of keys) {
      const rec = this.meta.get(key);
      if (rec) dirs.set(this.fsDir(rec.id), key);
    }
    const byDir = await diskUsageOf([...dirs.keys()]);
    const result = new Map<string, SnapshotUsage>();
    for (const [dir, usage] of byDir) result.set(dirs.get(dir)!, usage);
    return result;
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    for (const rec of this.meta.all()) await fn(publicInfo(rec));
  }

  async dataDir(key: string): Promise<string> {
    const rec = this.meta.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    return this.fsDir(rec.id);
  }

  async parentDataDirs(key: string): Promise<string[]> {
    const rec = this.meta.get(key);
    if (!rec) throw new SnapshotNotFoundError(key);
    return rec.parent === undefined ? [] : this.chainFrom(rec.parent).map((p) => this.fsDir(p.id));
  }
}

function publicInfo(rec: SnapshotRecord): SnapshotInfo {
  const { id: _id, ...info } = rec;
  // The durability label is the store's own bookkeeping.
  const { [UNSYNCED_LABEL]: _unsynced, ...labels } = info.labels;
  return { ...info, labels };
}

/** What a store is opened with. */
export interface OpenedStore {
  meta: MetaStore;
  syncBehind: SyncBehind;
  /** Snapshots dropped at open: see `Snapshotter.lostAtOpen`. */
  lost: string[];
}
