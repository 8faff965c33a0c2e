/**
 * The soak's killer: at random moments (exponentially distributed, from a seed) SIGKILLs berthd,
 * its embedded Temporal server or its nats-server. berthd is restarted on the same root, state and
 * node id; the embedded services are restarted by berthd's own supervisor.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { RunningBerthd } from '../../test/helpers/berthd.js';

export type Target = 'berthd' | 'temporal' | 'nats-server';
const TARGETS: readonly Target[] = ['berthd', 'temporal', 'nats-server'];

export interface ChaosOptions {
  seed: number;
  meanIntervalMs: number;
  daemon: () => RunningBerthd;
  restart: (killed: RunningBerthd) => Promise<RunningBerthd>;
  onKill: (target: Target) => void;
}

export class Chaos {
  private readonly kills = new Map<Target, number>();
  private state: number;

  constructor(private readonly opts: ChaosOptions) {
    this.state = opts.seed >>> 0 || 1;
  }

  /** Kills until `until` (ms since the epoch); resolves with berthd up again after the last kill. */
  async run(until: number): Promise<void> {
    for (;;) {
      const wait = -Math.log(1 - this.random()) * this.opts.meanIntervalMs;
      if (Date.now() + wait >= until) return;
      await new Promise((r) => setTimeout(r, wait));
      const target = TARGETS[Math.floor(this.random() * TARGETS.length)]!;
      const d = this.opts.daemon();
      const pid = target === 'berthd' ? d.proc.pid : serviceOf(d, target);
      if (pid === undefined) continue; // between restarts: nothing of that name to kill
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
      this.kills.set(target, (this.kills.get(target) ?? 0) + 1);
      this.opts.onKill(target);
      if (target === 'berthd') {
        await new Promise<void>((r) =>
          d.proc.exitCode !== null || d.proc.signalCode !== null ? r() : d.proc.once('exit', () => r()),
        );
        await this.opts.restart(d);
      }
    }
  }

  rows(): (string | number)[][] {
    return TARGETS.map((t) => [t, this.kills.get(t) ?? 0]);
  }

  /** xorshift32: the same seed kills at the same moments. */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }
}

/** The pid of berthd's embedded `temporal` or `nats-server` (its command line names berthd's root). */
function serviceOf(d: RunningBerthd, name: 'temporal' | 'nats-server'): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith(`/${name}`) || argv[0] === name) {
        if (argv.some((a) => a.includes(d.root))) return Number(entry);
      }
    } catch {
      // gone
    }
  }
  return undefined;
}
