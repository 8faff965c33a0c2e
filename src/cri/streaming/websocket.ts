/**
 * The small part of WebSocket (RFC 6455) the streaming server needs: accepting the upgrade
 * with a negotiated sub-protocol, reading the client's (masked, possibly fragmented) frames,
 * writing unmasked binary frames, answering pings and closing.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** A terminal session never needs messages this big; bigger is a broken or hostile client. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Answers the handshake on `socket` choosing the first of the client's sub-protocols we
 * support (a client offering none gets '' if supported lists it); returns the protocol, or
 * a message saying why the request cannot be accepted.
 */
export function acceptWebSocketUpgrade(req: IncomingMessage, socket: Duplex, supported: string[]): string {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || key.length === 0) return 'missing Sec-WebSocket-Key';
  const offered = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const protocol =
    offered.length === 0 ? supported.find((p) => p === '') : offered.find((p) => supported.includes(p));
  if (protocol === undefined)
    return `unable to negotiate a websocket sub-protocol: client offers [${offered.join(', ')}], server supports [${supported.join(', ')}]`;
  const accept = createHash('sha1')
    .update(key + ACCEPT_GUID)
    .digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (protocol === '' ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      '\r\n',
  );
  return protocol;
}

/** Emits 'message' (Buffer, binary or text) and 'close'. */
export class WebSocketConnection extends EventEmitter {
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private closing = false;

  constructor(private readonly socket: Duplex) {
    super();
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.once('close', () => this.emit('close'));
    socket.on('error', () => undefined);
  }

  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const frame = this.takeFrame();
      if (!frame) return;
      this.onFrame(frame.fin, frame.opcode, frame.payload);
    }
  }

  send(data: Buffer): boolean {
    if (this.closing || this.socket.destroyed) return false;
    return this.socket.write(encodeFrame(OP_BINARY, data));
  }

  sendText(text: string): boolean {
    if (this.closing || this.socket.destroyed) return false;
    return this.socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  /** Sends a close frame (1000: normal) and ends the socket once it is out. */
  close(code = 1000): void {
    if (this.closing) return;
    this.closing = true;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code, 0);
    if (!this.socket.destroyed) this.socket.end(encodeFrame(OP_CLOSE, payload));
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        if (!this.closing) this.socket.write(encodeFrame(OP_PONG, payload));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE:
        this.close();
        return;
      case OP_TEXT:
      case OP_BINARY:
      case OP_CONTINUATION: {
        this.fragments.push(payload);
        if (!fin) return;
        const message = Buffer.concat(this.fragments);
        this.fragments = [];
        this.emit('message', message);
        return;
      }
      default:
        this.socket.destroy();
    }
  }

  private takeFrame(): { fin: boolean; opcode: number; payload: Buffer } | undefined {
    const buf = this.pending;
    if (buf.length < 2) return undefined;
    const fin = (buf[0]! & 0x80) !== 0;
    const opcode = buf[0]! & 0x0f;
    const masked = (buf[1]! & 0x80) !== 0;
    let length = buf[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buf.length < 4) return undefined;
      length = buf.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (buf.length < 10) return undefined;
      const big = buf.readBigUInt64BE(2);
      if (big > BigInt(MAX_MESSAGE_BYTES)) {
        this.socket.destroy();
        return undefined;
      }
      length = Number(big);
      offset = 10;
    }
    const maskOffset = offset;
    if (masked) offset += 4;
    if (buf.length < offset + length) return undefined;
    const payload = Buffer.from(buf.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buf[maskOffset + (i % 4)]!;
    this.pending = buf.subarray(offset + length);
    return { fin, opcode, payload };
  }
}

function encodeFrame(opcode: number, payload: Buffer): Buffer {
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length < 0x10000) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}
