/**
 * A StreamingBackend over plain child processes (no containers): exec runs the command on the
 * host, attach echoes stdin back after a greeting, port-forward connects to 127.0.0.1:<port>.
 * Enough to drive the streaming protocols with the real crictl.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { NotFoundError } from '../../../src/common/errors.js';
import type { SessionStreams, StreamingBackend, TerminalSize } from '../../../src/cri/streaming/backend.js';
import type { StreamingServer } from '../../../src/cri/streaming/server.js';
import type { AttachStreamRequest, ExecStreamRequest } from '../../../src/cri/types/container.js';
import { FakeBackend } from '../fake-backend.js';

export class ChildProcessStreaming implements StreamingBackend {
  readonly resizes: TerminalSize[] = [];
  readonly calls: string[] = [];

  async exec(containerId: string, cmd: string[], streams: SessionStreams): Promise<{ exitCode: number }> {
    this.calls.push(`exec ${containerId} ${cmd.join(' ')}`);
    void this.collectResizes(streams);
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new NotFoundError(`cannot run ${cmd[0]}: ${err.message}`)));
      child.once('close', (code) => resolve(code ?? 137));
    });
    child.stdin.on('error', () => undefined);
    if (streams.stdin) streams.stdin.pipe(child.stdin);
    else child.stdin.end();
    if (streams.stdout) child.stdout.pipe(streams.stdout, { end: false });
    else child.stdout.resume();
    const errOut = streams.stderr ?? streams.stdout;
    if (errOut) child.stderr.pipe(errOut, { end: false });
    else child.stderr.resume();
    streams.signal.addEventListener('abort', () => child.kill('SIGKILL'));
    return { exitCode: await exited };
  }

  async attach(containerId: string, streams: SessionStreams): Promise<void> {
    this.calls.push(`attach ${containerId}`);
    streams.stdout?.write(`attached to ${containerId}\n`);
    if (!streams.stdin) return;
    for await (const chunk of streams.stdin as AsyncIterable<Buffer>) streams.stdout?.write(chunk);
  }

  async portForward(podSandboxId: string, port: number): Promise<Duplex> {
    this.calls.push(`portforward ${podSandboxId} ${port}`);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return socket;
  }

  private async collectResizes(streams: SessionStreams): Promise<void> {
    if (!streams.resize) return;
    for await (const size of streams.resize) this.resizes.push(size);
  }
}

/** The fake CRI backend, answering Exec/Attach/PortForward with real streaming URLs. */
export class StreamingFakeBackend extends FakeBackend {
  streaming: StreamingServer | undefined;

  override async exec(request: ExecStreamRequest): Promise<string> {
    await super.exec(request);
    return this.streaming!.execUrl(request);
  }

  override async attach(request: AttachStreamRequest): Promise<string> {
    await super.attach(request);
    return this.streaming!.attachUrl(request);
  }

  override async portForward(id: string, ports: number[]): Promise<string> {
    await super.portForward(id, ports);
    return this.streaming!.portForwardUrl(id, ports);
  }
}
