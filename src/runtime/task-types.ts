/** The task manager's request, state and on-disk record types (task.ts). */
import type { Logger } from '../common/logger.js';
import type { TaskExit } from './exits.js';
import type { HandlerRegistry } from './handler.js';
import type { OciSpec } from './oci-types.js';

export interface CreateTaskRequest {
  id: string;
  spec: OciSpec;
  /** CRI log file; its directory must exist. */
  logPath: string;
  /** RuntimeClass handler; the registry's default when absent. */
  runtimeHandler?: string;
  /** Signal `stop` sends first (the image's StopSignal); SIGTERM by default. */
  stopSignal?: string;
  logSizeMax?: number;
  /** Give the process a stdin held open by conmon, fed by attach sessions. */
  stdin?: boolean;
  /** Close that stdin when the first attach session ends (CRI StdinOnce). */
  stdinOnce?: boolean;
  /**
   * CRIU images to restore the process from (a checkpoint): the task is only recorded here, and
   * `start` has conmon run the runtime's `restore` (the process runs at once, so nothing is created before).
   */
  restoreFrom?: string;
}

/** What is recorded about a task beside its bundle (`task.json`). */
export interface TaskMeta {
  id: string;
  handler: string;
  logPath: string;
  stopSignal: string;
  cgroupsPath: string;
  conmonPid: number;
  createdAt: string;
  stdin?: boolean;
  tty?: boolean;
  stdinOnce?: boolean;
  logSizeMax?: number;
  /** Set until `start` restored the task from these CRIU images. */
  restoreFrom?: string;
}

export type TaskStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface TaskState {
  id: string;
  status: TaskStatus;
  /** Init pid while it lives (0 once stopped). */
  pid: number;
  conmonPid: number;
  handler: string;
  logPath: string;
  exit?: TaskExit;
}

export interface TaskManagerOptions {
  root: string;
  handlers: HandlerRegistry;
  conmonPath?: string;
  logger?: Logger;
  /** The daemon's root, where test-only crash points (common/crash-hooks.ts) keep their markers. */
  crashRoot?: string;
}

/**
 * A task a create left half made: the runtime holds no container for it (or one still being
 * created) and no exit was recorded. Only such a task may be made again by a re-run create step;
 * any other (created, running, paused, or one that ran and exited) is the container's own.
 */
export function isInterruptedCreate(st: TaskState | undefined): boolean {
  return st !== undefined && st.status === 'stopped' && st.exit === undefined;
}
