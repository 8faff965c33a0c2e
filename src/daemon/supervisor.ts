/**
 * Supervision of embedded services (Temporal dev server, nats-server): start, wait until healthy,
 * restart with exponential backoff when the child dies, stop with SIGTERM then SIGKILL.
 *
 * Children are started through `setpriv --pdeathsig SIGTERM`, so the kernel stops them if berthd
 * itself is killed: an embedded service is never left orphaned. Their pids are also recorded so a
 * berthd restarted after a crash can reap any survivor (see reapRecordedChildren).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { UnavailableError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  /** Resolves true once the service answers; must not throw. */
  healthy: () => Promise<boolean>;
  startTimeoutMs: number;
}

/** The child died before it became healthy (a port taken between choice and bind, a bad flag, …). */
export class ServiceExitedDuringStartup extends UnavailableError {}

export type ServiceState = 'starting' | 'healthy' | 'unhealthy' | 'stopped';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const STOP_GRACE_MS = 10_000;

export class SupervisedService extends EventEmitter {
  private child: ChildProcess | undefined;
  private stopping = false;
  /** During start(): a death then fails start() instead of scheduling a restart. */
  private initialStart = false;
  private backoffMs = BACKOFF_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  state: ServiceState = 'stopped';
  restarts = 0;
  lastExit: string | undefined;

  constructor(
    readonly spec: ServiceSpec,
    private readonly log: Logger,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child and waits until it is healthy; throws an UnavailableError naming the log if it never is. */
  async start(): Promise<void> {
    this.stopping = false;
    this.initialStart = true;
    try {
      this.spawnChild();
      await this.waitHealthy();
    } finally {
      this.initialStart = false;
    }
    this.backoffMs = BACKOFF_MIN_MS;
  }

  private spawnChild(): void {
    const { name, command, args, logFile } = this.spec;
    const out = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('setpriv', ['--pdeathsig', 'SIGTERM', '--', command, ...args], {
        stdio: ['ignore', out, out],
        detached: true, // own process group: a terminal's Ctrl-C reaches berthd, which stops children in order
      });
    } finally {
      closeSync(out);
    }
    this.child = child;
    this.state = 'starting';
    this.log.info({ service: name, pid: child.pid }, 'started embedded service');
    child.on('error', (err) => this.log.error({ service: name, err }, 'embedded service failed to spawn'));
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.lastExit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (this.stopping || this.initialStart) {
        this.state = 'stopped';
        return;
      }
      this.state = 'unhealthy';
      this.log.warn(
        { service: name, code, signal, retryInMs: this.backoffMs },
        'embedded service died; restarting',
      );
      this.emit('died');
      this.restartTimer = setTimeout(() => void this.restart(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    });
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    this.restarts++;
    this.spawnChild();
    try {
      await this.waitHealthy();
      this.backoffMs = BACKOFF_MIN_MS;
      this.log.info({ service: this.spec.name, restarts: this.restarts }, 'embedded service healthy again');
      this.emit('restarted');
    } catch (err) {
      this.log.error({ service: this.spec.name, err }, 'restarted service did not become healthy');
      this.child?.kill('SIGKILL'); // its exit schedules the next attempt
    }
  }

  private async waitHealthy(): Promise<void> {
    const { name, startTimeoutMs, logFile } = this.spec;
    const deadline = Date.now() + startTimeoutMs;
    const child = this.child;
    while (Date.now() < deadline) {
      if (!child || child.exitCode !== null || child.signalCode !== null || this.child !== child) {
        throw new ServiceExitedDuringStartup(
          `embedded ${name} exited during startup (${this.lastExit ?? 'unknown'}); see ${logFile}`,
        );
      }
      if (await this.spec.healthy()) {
        this.state = 'healthy';
        return;
      }
      await sleep(100);
    }
    throw new UnavailableError(`embedded ${name} was not healthy after ${startTimeoutMs} ms; see ${logFile}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'stopped';
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    this.state = 'stopped';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
