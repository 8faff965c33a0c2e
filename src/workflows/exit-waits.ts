/**
 * Tells berthd which wait a stop is in, through a sink (called by the worker when the activation
 * completes, never on replay), so the exit monitor signals `taskExited` only to a stop that waits
 * for it durably. A signal that lands while a workflow task runs local steps makes the server
 * refuse that task's completion: the steps run again in the next task (every stop whose container
 * exited within the quick local wait did, and a re-run after the pod was removed failed). A stop
 * berthd has heard nothing from (a run from before a restart) gets the signal as before.
 * Deterministic code only.
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';

/** `local`: a local step runs (hold the signal); `durable`: a timer waits (send it); `done`. */
export type ExitWaitPhase = 'local' | 'durable' | 'done';

export interface ExitWaitSinks extends Sinks {
  exitWaits: {
    phase(phase: ExitWaitPhase): void;
  };
}

const { exitWaits } = proxySinks<ExitWaitSinks>();

export function exitWaitPhase(phase: ExitWaitPhase): void {
  exitWaits.phase(phase);
}
