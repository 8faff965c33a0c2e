/**
 * Durability of committed snapshots, off the unpack's critical path ("sync behind").
 *
 * A committed snapshot must never be trusted with data the disk does not have: after a power loss
 * or kernel crash, files written but not yet written back are empty or stale. A daemon crash loses
 * nothing (the page cache survives it); only the machine going down does, and that changes the boot id.
 *
 * So instead of a syncfs before every commit (about a third of a large layer's unpack here), each
 * commit is labelled `<boot id>:<epoch>` and the store's filesystem is synced shortly after the
 * commits stop (debounced, and held back while an unpack writes: a syncfs beside file creation
 * slows it down badly), in the background; once a sync finishes, `<root>/synced` records
 * (durably) the boot and the highest epoch it covers. At open, a committed snapshot whose label
 * names another boot is kept only if that boot's sync covered it (its label is then cleared, once);
 * otherwise its data may be torn, and it is dropped with everything built on it. In the boot that
 * wrote it an unsynced snapshot is fine (its data is in the page cache) and a sync is scheduled.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileDurably } from '../common/durable-file.js';
import { execFile } from '../common/exec.js';

/** The label a commit carries until a sync is known to cover it. */
export const UNSYNCED_LABEL = 'berth.io/unsynced';

/** How long after the last commit the sync starts: commits of one image's layers share one sync. */
export const SYNC_BEHIND_DELAY_MS = 250;

interface SyncedMark {
  boot: string;
  epoch: number;
}

/**
 * The kernel's id of this boot. Where it cannot be read, every boot looks alike: unsynced commits
 * are then trusted after a power loss too (what containerd always does), rather than refusing to open.
 */
export async function currentBootId(): Promise<string> {
  return readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim(),
    () => 'unknown-boot',
  );
}

/** What an unsynced label says; undefined when it is not one Berth wrote. */
export function parseUnsyncedLabel(label: string | undefined): SyncedMark | undefined {
  const m = label === undefined ? null : /^([0-9a-zA-Z-]+):(\d+)$/.exec(label);
  return m ? { boot: m[1] as string, epoch: Number(m[2]) } : undefined;
}

export class SyncBehind {
  private epoch: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Highest epoch a commit was labelled with; 0 when nothing waits. */
  private pendingUpTo = 0;
  /** Writers (unpacks) running: the sync waits for them, so it never competes with their writes. */
  private holds = 0;

  private constructor(
    private readonly root: string,
    readonly boot: string,
    private synced: SyncedMark | undefined,
    highestLabelled: number,
    private readonly delayMs: number,
  ) {
    const start = synced?.boot === boot ? synced.epoch : 0;
    this.epoch = Math.max(start, highestLabelled) + 1;
    if (highestLabelled > start) this.pendingUpTo = highestLabelled;
  }

  /**
   * Reads `<root>/synced`. `labels` are the unsynced labels of the store's records: those of this
   * boot above the last sync are still pending, and get synced soon.
   */
  static async open(
    root: string,
    labels: Iterable<string | undefined>,
    opts: { bootId?: string; delayMs?: number } = {},
  ): Promise<SyncBehind> {
    const boot = opts.bootId ?? (await currentBootId());
    const synced = await readFile(join(root, 'synced'), 'utf8').then(
      (text) => parseUnsyncedLabel(text.trim()),
      () => undefined,
    );
    let highest = 0;
    for (const label of labels) {
      const mark = parseUnsyncedLabel(label);
      if (mark?.boot === boot) highest = Math.max(highest, mark.epoch);
    }
    const s = new SyncBehind(root, boot, synced, highest, opts.delayMs ?? SYNC_BEHIND_DELAY_MS);
    if (s.pendingUpTo > 0) s.schedule();
    return s;
  }

  /**
   * Whether a record with this label may be trusted: no label, this boot (the page cache has it),
   * or another boot whose last sync covered it.
   */
  trusted(label: string | undefined): boolean {
    if (label === undefined) return true;
    const mark = parseUnsyncedLabel(label);
    if (!mark) return false;
    if (mark.boot === this.boot) return true;
    return this.synced?.boot === mark.boot && this.synced.epoch >= mark.epoch;
  }

  /** The label for a commit happening now; schedules the sync that will cover it. */
  labelForCommit(): string {
    this.pendingUpTo = this.epoch;
    this.schedule();
    return `${this.boot}:${this.epoch}`;
  }

  /** Holds the sync back until the returned release is called (each once). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0 && this.pendingUpTo > 0) this.schedule();
    };
  }

  /** Runs the pending sync now and waits for it (and any sync already running). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    if (this.pendingUpTo > 0) await this.syncNow();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // The last release schedules it again.
      if (this.holds > 0) return;
      void this.syncNow().catch(() => {
        // The next commit or flush tries again; until then the snapshots stay labelled, and a
        // power loss would drop them at open (safe: they are unpacked again).
      });
    }, this.delayMs);
    // A process that exits meanwhile loses nothing: the next open in this boot schedules the sync.
    this.timer.unref();
  }

  private syncNow(): Promise<void> {
    const run = (this.running ?? Promise.resolve()).then(async () => {
      const target = this.pendingUpTo;
      if (target === 0) return;
      // Commits from here on get a new epoch, which this sync does not claim to cover.
      this.epoch = target + 1;
      this.pendingUpTo = 0;
      try {
        await execFile('sync', ['--file-system', this.root]);
        await this.writeMark({ boot: this.boot, epoch: target });
      } catch (err) {
        this.pendingUpTo = Math.max(this.pendingUpTo, target);
        throw err;
      }
    });
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Written atomically and durably: the mark claims data is on disk, so it must be too. */
  private async writeMark(mark: SyncedMark): Promise<void> {
    await replaceFileDurably(join(this.root, 'synced'), `${mark.boot}:${mark.epoch}\n`);
    this.synced = mark;
  }
}
