/** The StreamingBackend the streaming server calls: exec and attach through ContainerService, port-forward into the pod's netns. */
import type { Duplex } from 'node:stream';
import type { SessionStreams, StreamingBackend } from '../streaming/backend.js';
import type { BerthCriDeps } from './deps.js';
import { connectInNetns } from './netns-connect.js';

export class BerthStreamingBackend implements StreamingBackend {
  constructor(private readonly deps: Pick<BerthCriDeps, 'containers' | 'sandboxes'>) {}

  async exec(containerId: string, cmd: string[], streams: SessionStreams): Promise<{ exitCode: number }> {
    const exitCode = await this.deps.containers.exec(containerId, cmd, {
      ...(streams.stdin ? { stdin: streams.stdin } : {}),
      ...(streams.stdout ? { stdout: streams.stdout } : {}),
      ...(streams.stderr ? { stderr: streams.stderr } : {}),
      tty: streams.tty,
      ...(streams.resize ? { resize: streams.resize } : {}),
      signal: streams.signal,
    });
    return { exitCode };
  }

  async attach(containerId: string, streams: SessionStreams): Promise<void> {
    await this.deps.containers.attach(containerId, {
      ...(streams.stdin ? { stdin: streams.stdin } : {}),
      ...(streams.stdout ? { stdout: streams.stdout } : {}),
      ...(streams.stderr ? { stderr: streams.stderr } : {}),
      ...(streams.resize ? { resize: streams.resize } : {}),
      signal: streams.signal,
    });
  }

  async portForward(podSandboxId: string, port: number, signal: AbortSignal): Promise<Duplex> {
    const sandbox = await this.deps.sandboxes.get(podSandboxId);
    return connectInNetns(sandbox.netns, port, signal);
  }
}
