/**
 * Exec over every WebSocket sub-protocol kubelet's remotecommand server speaks, driven by a small
 * client written here from the wire format (the e2e "remote command execution over websockets"
 * spec offers `channel.k8s.io`; browsers and older tools use the base64 ones): the readiness
 * message, channel numbering, base64 text messages, stdin, and the status each version ends with.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingServer } from '../../../src/cri/streaming/server.js';
import { WebSocketConnection } from '../../../src/cri/streaming/websocket.js';
import { ChildProcessStreaming } from './fake-streaming.js';

let streaming: StreamingServer;

beforeAll(async () => {
  streaming = new StreamingServer({ backend: new ChildProcessStreaming(), streamCreationTimeoutMs: 5_000 });
  await streaming.start();
});

afterAll(async () => {
  await streaming?.close();
});

interface Session {
  /** The protocol the server chose ('' when it sent none). */
  protocol: string;
  /** Messages as [channel, data], decoded as the protocol says. */
  messages: [number, string][];
  send(channel: number, data: string): void;
  closed: Promise<void>;
}

/** Opens a WebSocket to `url` offering `protocols`; collects the server's messages until it closes. */
function open(url: string, protocols: string[], base64: boolean): Promise<Session> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    };
    if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
    const req = httpRequest(url, { headers });
    req.once('error', reject);
    req.once('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.once('upgrade', (res, socket: Duplex, head: Buffer) => {
      const ws = new WebSocketConnection(socket);
      const messages: [number, string][] = [];
      ws.on('message', (m: Buffer) => {
        if (base64) messages.push([m[0]! - 0x30, Buffer.from(m.subarray(1).toString(), 'base64').toString()]);
        else messages.push([m[0]!, m.subarray(1).toString()]);
      });
      const closed = new Promise<void>((done) => ws.once('close', () => done()));
      ws.feed(head);
      resolve({
        protocol: String(res.headers['sec-websocket-protocol'] ?? ''),
        messages,
        // A client masks its frames; the server reads unmasked ones as well, which is all we need.
        send: (channel, data) =>
          base64
            ? ws.sendText(String.fromCharCode(0x30 + channel) + Buffer.from(data).toString('base64'))
            : ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)])),
        closed,
      });
    });
    req.end();
  });
}

const execUrl = (cmd: string[], stdin = false): string =>
  streaming.execUrl({ containerId: 'c1', cmd, tty: false, stdin, stdout: true, stderr: true });

describe('exec over each WebSocket sub-protocol', () => {
  it('channel.k8s.io: an empty message on stdout first, raw output, no status on success', async () => {
    const s = await open(execUrl(['echo', 'remote execution test']), ['channel.k8s.io'], false);
    await s.closed;
    expect(s.protocol).toBe('channel.k8s.io');
    expect(s.messages).toEqual([
      [1, ''],
      [1, 'remote execution test\n'],
    ]);
  });

  it('channel.k8s.io: a failure is its message, as text, on the error channel', async () => {
    const s = await open(execUrl(['sh', '-c', 'exit 3']), ['channel.k8s.io'], false);
    await s.closed;
    const errors = s.messages.filter(([c]) => c === 3).map(([, d]) => d);
    expect(errors).toEqual([
      'command terminated with non-zero exit code: error executing command, exit code 3',
    ]);
  });

  it('no sub-protocol offered: the binary v1 protocol, and no protocol header back', async () => {
    const s = await open(execUrl(['echo', 'hi']), [], false);
    await s.closed;
    expect(s.protocol).toBe('');
    expect(s.messages).toEqual([
      [1, ''],
      [1, 'hi\n'],
    ]);
  });

  it('base64.channel.k8s.io: text messages, stdin in and out, stderr on channel 2', async () => {
    const s = await open(
      execUrl(['sh', '-c', 'read line; echo "got $line"; echo oops >&2'], true),
      ['base64.channel.k8s.io'],
      true,
    );
    s.send(0, 'hello\n');
    await s.closed;
    expect(s.protocol).toBe('base64.channel.k8s.io');
    expect(s.messages).toContainEqual([1, 'got hello\n']);
    expect(s.messages).toContainEqual([2, 'oops\n']);
    expect(s.messages[0]).toEqual([1, '']);
    expect(s.messages.some(([c]) => c === 3)).toBe(false);
  });

  it('v4.base64.channel.k8s.io: the JSON Status with the exit code', async () => {
    const s = await open(execUrl(['sh', '-c', 'exit 5']), ['v4.base64.channel.k8s.io'], true);
    await s.closed;
    const [status] = s.messages.filter(([c]) => c === 3).map(([, d]) => JSON.parse(d) as unknown);
    expect(status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '5' }] },
    });
  });

  it('the client order decides between protocols both sides speak', async () => {
    const s = await open(execUrl(['true']), ['v4.channel.k8s.io', 'channel.k8s.io'], false);
    await s.closed;
    expect(s.protocol).toBe('v4.channel.k8s.io');
    expect(s.messages.filter(([c]) => c === 3).map(([, d]) => JSON.parse(d) as unknown)).toEqual([
      { metadata: {}, status: 'Success' },
    ]);
  });

  it('a protocol the server does not speak is refused with both lists named', async () => {
    await expect(open(execUrl(['true']), ['v9.channel.k8s.io'], false)).rejects.toThrow(/HTTP 400/);
  });
});
