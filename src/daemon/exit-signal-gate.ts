/**
 * Decides when the exit monitor's `taskExited` signal reaches a container's stop workflow. A stop
 * announces its phase through a sink (workflows/exit-waits.ts): during a local step (the stop
 * signal, the quick local wait for the exit) a signal would make the server refuse the workflow
 * task and run those steps again, so an exit seen then is held; it is sent when the stop starts a
 * durable wait (timer) and dropped when the stop finishes, having seen the exit itself. A stop
 * this berthd has heard nothing from (a run from before a restart) gets the signal at once.
 */
import type { InjectedSinks } from '@temporalio/worker';
import type { ExitWaitPhase, ExitWaitSinks } from '../workflows/exit-waits.js';

export class ExitSignalGate {
  /** The last phase each running stop announced, by workflow id. */
  private readonly phases = new Map<string, Exclude<ExitWaitPhase, 'done'>>();
  /** Signals held during a local phase, by workflow id. */
  private readonly held = new Map<string, () => Promise<void>>();

  readonly sinks: InjectedSinks<ExitWaitSinks> = {
    exitWaits: {
      phase: {
        fn: (info, phase) => this.phase(info.workflowId, phase),
        callDuringReplay: false,
      },
    },
  };

  /** Sends `signal` to the stop `workflowId` now, or holds it while the stop runs a local step. */
  async deliver(workflowId: string, signal: () => Promise<void>): Promise<void> {
    if (this.phases.get(workflowId) === 'local') this.held.set(workflowId, signal);
    else await signal();
  }

  /** What the gate tracks (tests): announced phases and held signals. */
  get size(): { phases: number; held: number } {
    return { phases: this.phases.size, held: this.held.size };
  }

  private phase(workflowId: string, phase: ExitWaitPhase): void {
    if (phase === 'done') {
      this.phases.delete(workflowId);
      this.held.delete(workflowId);
      return;
    }
    this.phases.set(workflowId, phase);
    const signal = phase === 'durable' ? this.held.get(workflowId) : undefined;
    if (signal) {
      this.held.delete(workflowId);
      // The monitor's own sends ignore a refusal (the stop finished meanwhile); so does this one.
      void signal().catch(() => undefined);
    }
  }
}
