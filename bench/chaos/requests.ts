/**
 * The soak's requests: each one retried until it succeeds or its deadline passes, with how long it
 * took from its first attempt, how many attempts, and whether a kill happened while it waited.
 */
export class RequestLog {
  private readonly byKind = new Map<string, { ok: number[]; failed: number; attempts: number }>();
  private readonly inFlight = new Set<{ sawKill: boolean }>();
  private acrossKillMs: number[] = [];

  /** A kill happened: every request waiting now waited across it. */
  killed(_target: string): void {
    for (const r of this.inFlight) r.sawKill = true;
  }

  async run(kind: string, attempt: () => Promise<string>, deadlineMs: number): Promise<string> {
    const stats = this.byKind.get(kind) ?? { ok: [], failed: 0, attempts: 0 };
    this.byKind.set(kind, stats);
    const t0 = performance.now();
    const tracked = { sawKill: false };
    this.inFlight.add(tracked);
    let delayMs = 100;
    try {
      for (;;) {
        stats.attempts++;
        try {
          const out = await attempt();
          const ms = performance.now() - t0;
          stats.ok.push(ms);
          if (tracked.sawKill) this.acrossKillMs.push(ms);
          return out;
        } catch (err) {
          if (performance.now() - t0 > deadlineMs) {
            stats.failed++;
            throw new Error(
              `${kind} failed for ${Math.round(deadlineMs / 1000)} s: ${(err as Error).message}`,
            );
          }
          await new Promise((r) => setTimeout(r, delayMs));
          delayMs = Math.min(delayMs * 2, 2_000);
        }
      }
    } finally {
      this.inFlight.delete(tracked);
    }
  }

  rows(): (string | number)[][] {
    return [...this.byKind].map(([kind, s]) => {
      const sorted = [...s.ok].sort((a, b) => a - b);
      return [
        kind,
        s.ok.length + s.failed,
        s.ok.length,
        s.failed,
        s.attempts,
        Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
        Math.round(sorted[sorted.length - 1] ?? 0),
      ];
    });
  }

  longestAcrossKill(): number {
    return Math.round(Math.max(0, ...this.acrossKillMs));
  }

  acrossKills(): number {
    return this.acrossKillMs.length;
  }
}
