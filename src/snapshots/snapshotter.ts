/**
 * The snapshotter interface: how image layers become filesystem trees a container can mount.
 *
 * The model follows containerd's: a snapshot is a directory tree identified by a key.
 * - An *active* snapshot (from `prepare`) is writable. It is where a layer is unpacked or
 *   where a container writes. It is never a parent.
 * - A *view* (from `view`) is a read-only active snapshot of a parent; it cannot be committed.
 * - A *committed* snapshot (from `commit`) is immutable and may be the parent of other
 *   snapshots. Committed snapshots of image layers are named by the layer's chain id, so
 *   images that share layers share snapshots.
 *
 * A snapshot's content is reached through `mounts(key)`: a list of mounts that, applied in
 * order to an empty directory, produce the tree. The snapshotter never keeps anything mounted.
 */
import type { Mount } from './mount.js';

export type { Mount } from './mount.js';

export type SnapshotKind = 'active' | 'view' | 'committed';

/** What the snapshotter knows about one snapshot. */
export interface SnapshotInfo {
  /** The key of an active snapshot or view, the name of a committed one. */
  readonly name: string;
  /** Name of the committed parent, absent for a snapshot with no parent. */
  readonly parent?: string;
  readonly kind: SnapshotKind;
  /** Free-form labels (e.g. `berth.io/gc.root`), copied on commit. */
  readonly labels: Readonly<Record<string, string>>;
  /** ISO-8601 times. */
  readonly created: string;
  readonly updated: string;
}

/** Disk usage of the snapshot's own data (for overlayfs: its layer only, not its parents). */
export interface SnapshotUsage {
  /** Number of inodes, hardlinked files counted once. */
  readonly inodes: number;
  /** Bytes allocated on disk (st_blocks × 512), hardlinked files counted once. */
  readonly size: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

/**
 * A store of snapshots under one root directory. Metadata is persisted, so a new instance
 * opened on the same root sees the same snapshots. One instance per root (berthd is the single
 * writer); operations on one instance may run concurrently.
 */
export interface Snapshotter {
  /** `overlayfs` or `native`: tells the unpacker how to represent whiteouts. */
  readonly type: SnapshotterType;

  /**
   * Creates an active snapshot `key` whose content starts as the committed snapshot `parent`
   * (empty without a parent) and returns the mounts for it.
   * Throws AlreadyExistsError if `key` exists, NotFoundError if `parent` is not a committed snapshot.
   */
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;

  /** Like `prepare`, but the snapshot is read-only and can never be committed. */
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;

  /**
   * Turns the active snapshot `key` into the committed snapshot `name`; `key` ceases to exist.
   * The content must not be mounted writable any more. The caller need not sync the data: see
   * `flush` (durability follows the commit). Throws NotFoundError if `key` is not an
   * active snapshot, AlreadyExistsError if `name` exists (the caller then removes `key` and
   * reuses `name`).
   */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;

  /**
   * Removes a snapshot of any kind and its data. Throws NotFoundError if it does not exist and
   * FailedPreconditionError if other snapshots have it as their parent. Nothing may have it mounted.
   */
  remove(key: string): Promise<void>;

  /** Mounts of an active snapshot or view (committed snapshots are reached through a view). */
  mounts(key: string): Promise<Mount[]>;

  /** Information on a snapshot; NotFoundError if it does not exist. */
  stat(key: string): Promise<SnapshotInfo>;

  /** Disk usage of a snapshot's own data; NotFoundError if it does not exist. */
  usage(key: string): Promise<SnapshotUsage>;

  /**
   * Disk usage of several snapshots in one measuring pass (ImageFsInfo measures every writable
   * layer). Keys that do not exist, or are removed while measured, are absent from the result.
   */
  usageOf(keys: readonly string[]): Promise<Map<string, SnapshotUsage>>;

  /** Calls `fn` for every snapshot, in name order. */
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;

  /**
   * The directory holding the snapshot's own data (for overlayfs its upper layer, for native the
   * full tree). For the unpacker and for tests; other callers use `mounts`.
   */
  dataDir(key: string): Promise<string>;

  /** Data directories of the committed parent chain of `key`, nearest parent first. */
  parentDataDirs(key: string): Promise<string[]>;

  /**
   * Waits until the data of every committed snapshot is on disk. Commits return before that: the
   * store syncs its filesystem shortly after commits stop, and drops at the next open what a
   * power loss caught unsynced (`lostAtOpen`). Call before shutting down to leave nothing pending.
   */
  flush(): Promise<void>;

  /**
   * Runs `write` (an unpack filling and committing snapshots) with the sync behind commits held
   * back until it ends, so the sync does not compete with its writes.
   */
  whileWriting<T>(write: () => Promise<T>): Promise<T>;

  /**
   * Snapshots dropped when this instance opened: committed ones a power loss (a new boot) caught
   * before the sync behind their commit finished, so their data may be torn, and every snapshot
   * built on them. Their images must be unpacked again.
   */
  readonly lostAtOpen: readonly string[];
}

export type SnapshotterType = 'overlayfs' | 'native';

/** A change to the snapshot store, named as containerd's snapshot events are. */
export type SnapshotEvent =
  | {
      topic: '/snapshot/prepare';
      snapshotter: SnapshotterType;
      key: string;
      parent?: string;
      kind: 'active' | 'view';
    }
  | { topic: '/snapshot/commit'; snapshotter: SnapshotterType; key: string; name: string }
  | { topic: '/snapshot/remove'; snapshotter: SnapshotterType; key: string };

export interface SnapshotterOpenOptions {
  /**
   * Called after each change is persisted, in the order the changes happened (berthd appends
   * them to the event log). An error thrown here is returned to the caller of the operation;
   * the change itself stays done.
   */
  onEvent?: (event: SnapshotEvent) => void | Promise<void>;
  /** The boot this runs in (tests simulate a reboot); `/proc/sys/kernel/random/boot_id` by default. */
  bootId?: string;
  /** How long after the last commit the sync behind it starts (tests hold it back); 250 ms by default. */
  syncBehindDelayMs?: number;
  /** The daemon's root, where test-only crash points (common/crash-hooks.ts) keep their markers. */
  crashRoot?: string;
}
