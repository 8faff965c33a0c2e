/**
 * An exec or attach session once its channels exist (whatever the transport: SPDY streams or
 * WebSocket channels): hands the channels to the backend, then ends the output channels and
 * writes the final status on the error channel, as kubelet's remotecommand server does.
 */
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BerthError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { SessionStreams, StreamingBackend } from './backend.js';
import type { StreamingRequest } from './requests.js';
import { terminalSizes } from './resize.js';
import {
  encodeStatusAs,
  exitCodeStatus,
  internalErrorStatus,
  successStatus,
  type K8sStatus,
  type StatusFormat,
} from './status.js';

export type RemoteCommandRequest = Extract<StreamingRequest, { kind: 'exec' | 'attach' }>;

export interface RemoteCommandChannels {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Where the final status goes. */
  error: Writable;
  resize?: Readable;
  /** JSON (v4 and later) unless the protocol is older. */
  statusFormat?: StatusFormat;
}

/** Which channels the client must open for this request (client-go opens exactly these). */
export function expectedChannels(request: RemoteCommandRequest): (keyof RemoteCommandChannels)[] {
  const names: (keyof RemoteCommandChannels)[] = ['error'];
  if (request.stdin) names.push('stdin');
  if (request.stdout) names.push('stdout');
  if (request.stderr && !request.tty) names.push('stderr');
  if (request.tty) names.push('resize');
  return names;
}

export async function runRemoteCommand(
  request: RemoteCommandRequest,
  channels: RemoteCommandChannels,
  backend: StreamingBackend,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  const streams: SessionStreams = {
    stdin: channels.stdin,
    stdout: channels.stdout,
    stderr: channels.stderr,
    tty: request.tty,
    resize: channels.resize ? terminalSizes(channels.resize) : undefined,
    signal,
  };
  let status: K8sStatus;
  try {
    if (request.kind === 'exec') {
      const { exitCode } = await backend.exec(request.containerId, request.cmd, streams);
      status = exitCode === 0 ? successStatus() : exitCodeStatus(exitCode);
    } else {
      await backend.attach(request.containerId, streams);
      status = successStatus();
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof BerthError)) logger.warn({ err, request: request.kind }, 'streaming session failed');
    status = internalErrorStatus(message);
  }
  // Output first, so everything the process wrote reaches the client before it learns the end.
  await Promise.all([endChannel(channels.stdout), endChannel(channels.stderr)]);
  const statusBytes = encodeStatusAs(channels.statusFormat ?? 'json', status);
  if (statusBytes) channels.error.write(statusBytes);
  await endChannel(channels.error);
}

async function endChannel(channel: Writable | undefined): Promise<void> {
  if (!channel || channel.destroyed) return;
  if (!channel.writableEnded) channel.end();
  await finished(channel, { readable: false }).catch(() => undefined);
}
