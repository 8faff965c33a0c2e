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
 * container (about 1 s after 100 new pods, where containerd answers in 60 ms). Everything due is
 * measured in one pass (one pair of du processes, not a pair each): the calls right after 100 new
 * pods, while those 200 processes ran, took 101 ms against containerd's 59, and 53 ms with one pass
 * (bench/memory/pss.ts). Container stats read the same measures, as containerd's CRI does, rather
 * than a du pair per container on every ListContainerStats.
 */
import type { Snapshotter, SnapshotUsage } from '../snapshots/snapshotter.js';

const NONE: SnapshotUsage = { size: 0, inodes: 0 };

export class SnapshotUsageCache {
  private readonly committed = new Map<string, SnapshotUsage>();
  private readonly active = new Map<string, { usage: SnapshotUsage; at: number }>();
  /** Writable layers to measure in the next pass; one pass runs at a time. */
  private readonly queued = new Set<string>();
  private inFlight = new Set<string>();
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly snapshotter: Pick<Snapshotter, 'walk' | 'usageOf'>,
    private readonly maxAgeMs = 10_000,
    private readonly now: () => number = Date.now,
    private readonly onFailure: (err: unknown) => void = () => {},
  ) {}

  /** Usage of committed snapshots (image layers) and of active ones (writable layers). */
  async totals(): Promise<{ committed: SnapshotUsage; active: SnapshotUsage }> {
    const committed = { size: 0, inodes: 0 };
    const active = { size: 0, inodes: 0 };
    const present = new Set<string>();
    const infos: { key: string; name: string; isCommitted: boolean }[] = [];
    await this.snapshotter.walk((info) => {
      const isCommitted = info.kind === 'committed';
      infos.push({
        key: isCommitted ? `${info.name}@${info.created}` : info.name,
        name: info.name,
        isCommitted,
      });
    });
    const unmeasured = infos.filter((s) => s.isCommitted && !this.committed.has(s.key)).map((s) => s.name);
    const measured = await this.measure(unmeasured);
    for (const { key, name, isCommitted } of infos) {
      present.add(key);
      let u: SnapshotUsage;
      if (isCommitted) {
        const known = this.committed.get(key) ?? measured?.get(name);
        // One that could not be measured counts empty this time and is measured at the next call.
        if (known) this.committed.set(key, known);
        u = known ?? NONE;
      } else {
        u = this.activeUsage(name);
      }
      const into = isCommitted ? committed : active;
      into.size += u.size;
      into.inodes += u.inodes;
    }
    // Snapshots removed since the last call are forgotten.
    for (const map of [this.committed, this.active])
      for (const key of map.keys()) if (!present.has(key)) map.delete(key);
    return { committed, active };
  }

  /**
   * A writable layer's last measure (a container's stats), at most `maxAgeMs` old unless it is
   * being measured; a new one counts as empty until its first measure, as containerd's CRI answers
   * before its collector has seen a snapshot. A stale or new one is queued for the next pass.
   */
  activeUsage(name: string): SnapshotUsage {
    let cached = this.active.get(name);
    if (!cached) this.active.set(name, (cached = { usage: NONE, at: -Infinity }));
    if (this.now() - cached.at > this.maxAgeMs) this.queue(name);
    return cached.usage;
  }

  /** Waits for background passes in flight (tests; a clean stop). */
  async settled(): Promise<void> {
    while (this.refreshing) await this.refreshing;
  }

  private queue(name: string): void {
    if (this.inFlight.has(name)) return;
    this.queued.add(name);
    // Started a microtask later, so every layer queued by the same call shares the first pass.
    this.refreshing ??= Promise.resolve()
      .then(() => this.drain())
      .finally(() => (this.refreshing = undefined));
  }

  /** Passes until nothing is queued: what is queued during a pass is measured by the next. */
  private async drain(): Promise<void> {
    while (this.queued.size > 0) {
      const names = [...this.queued];
      this.queued.clear();
      this.inFlight = new Set(names);
      const measured = await this.measure(names).finally(() => (this.inFlight = new Set()));
      if (!measured) return; // left stale: queued again by the next call that reads them
      const at = this.now();
      for (const name of names)
        if (this.active.has(name)) this.active.set(name, { usage: measured.get(name) ?? NONE, at });
    }
  }

  /**
   * One pass over `names`: a snapshot removed while it is measured is absent (no usage left to
   * count); undefined when the pass failed (reported).
   */
  private async measure(names: string[]): Promise<Map<string, SnapshotUsage> | undefined> {
    if (names.length === 0) return new Map();
    return this.snapshotter.usageOf(names).catch((err: unknown) => {
      this.onFailure(err);
      return undefined;
    });
  }
}
