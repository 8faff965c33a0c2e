/**
 * Snapshot disk usage for ImageFsInfo, which kubelet asks for every few seconds: walking every
 * snapshot on each call grew with the number of containers (65 ms with one pod, 194 ms with 100,
 * where containerd stays at 26 ms). A committed snapshot never changes, so its usage is measured
 * once (keyed by name and creation time, so a name made again is measured again). An active
 * snapshot (a container's writable layer) changes as the container writes: a known one answers with
 * its last measure and is measured again in the background once that is older than `maxAgeMs`
 * (containerd's CRI collects snapshot usage every 10 s the same way). A new one counts as empty,
 * which a writable layer is when its container is made, and is measured in the background: measuring
 * each before answering made the first call after a burst of containers cost about 10 ms a
 * container (about 1 s after 100 new pods, where containerd answers in 60 ms).
 */
import type { Snapshotter, SnapshotUsage } from '../snapshots/snapshotter.js';

const NONE: SnapshotUsage = { size: 0, inodes: 0 };

export class SnapshotUsageCache {
  private readonly committed = new Map<string, SnapshotUsage>();
  private readonly active = new Map<string, { usage: SnapshotUsage; at: number }>();
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly snapshotter: Pick<Snapshotter, 'walk' | 'usage'>,
    private readonly maxAgeMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Usage of committed snapshots (image layers) and of active ones (writable layers). */
  async totals(): Promise<{ committed: SnapshotUsage; active: SnapshotUsage }> {
    const committed = { size: 0, inodes: 0 };
    const active = { size: 0, inodes: 0 };
    const present = new Set<string>();
    const stale: string[] = [];
    const infos: { key: string; name: string; isCommitted: boolean }[] = [];
    await this.snapshotter.walk((info) => {
      const isCommitted = info.kind === 'committed';
      infos.push({
        key: isCommitted ? `${info.name}@${info.created}` : info.name,
        name: info.name,
        isCommitted,
      });
    });
    for (const { key, name, isCommitted } of infos) {
      present.add(key);
      let u: SnapshotUsage;
      if (isCommitted) {
        u = this.committed.get(key) ?? (await this.measure(name));
        this.committed.set(key, u);
      } else {
        // A new one: empty, and never measured, so stale at once.
        let cached = this.active.get(key);
        if (!cached) this.active.set(key, (cached = { usage: NONE, at: -Infinity }));
        u = cached.usage;
        if (this.now() - cached.at > this.maxAgeMs) stale.push(name);
      }
      const into = isCommitted ? committed : active;
      into.size += u.size;
      into.inodes += u.inodes;
    }
    // Snapshots removed since the last call are forgotten.
    for (const map of [this.committed, this.active])
      for (const key of map.keys()) if (!present.has(key)) map.delete(key);
    if (stale.length > 0 && !this.refreshing)
      this.refreshing = this.refresh(stale).finally(() => (this.refreshing = undefined));
    return { committed, active };
  }

  /** Waits for a background refresh in flight (tests; a clean stop). */
  async settled(): Promise<void> {
    await this.refreshing;
  }

  private async refresh(names: string[]): Promise<void> {
    for (const name of names) {
      if (!this.active.has(name)) continue;
      const usage = await this.measure(name);
      if (this.active.has(name)) this.active.set(name, { usage, at: this.now() });
    }
  }

  /** A snapshot removed while it is measured has no usage left to count. */
  private measure(name: string): Promise<SnapshotUsage> {
    return this.snapshotter.usage(name).catch(() => NONE);
  }
}
