/**
 * StreamingBackend: what the streaming server needs from the rest of Berth to serve an exec,
 * attach or port-forward session once the client has connected. ContainerService and
 * SandboxService satisfy it (see src/cri/berth-backend.ts).
 */
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** The client's side of a session, as the backend sees it. */
export interface SessionStreams {
  /** Present when the client sends input; ends when the client closes its input. */
  stdin?: Readable;
  /** Present when the client wants output. The backend writes; the server ends it afterwards. */
  stdout?: Writable;
  /** Present when the client wants stderr (never with a tty: stderr is merged into stdout). */
  stderr?: Writable;
  tty: boolean;
  /** Terminal size changes sent by the client (tty sessions only); ends with the session. */
  resize?: AsyncIterable<TerminalSize>;
  /** Aborted when the client goes away: stop the process's streams (and, for exec, the process). */
  signal: AbortSignal;
}

export interface StreamingBackend {
  /**
   * Runs `cmd` in the running container with the given streams; resolves with its exit code
   * when it ends. Throws a BerthError when the exec cannot run (container gone, bad command).
   */
  exec(containerId: string, cmd: string[], streams: SessionStreams): Promise<{ exitCode: number }>;

  /** Attaches the streams to the container's main process; resolves when it exits or the client leaves. */
  attach(containerId: string, streams: SessionStreams): Promise<void>;

  /** Opens a TCP connection to `port` on localhost inside the pod's network namespace. */
  portForward(podSandboxId: string, port: number, signal: AbortSignal): Promise<Duplex>;
}
