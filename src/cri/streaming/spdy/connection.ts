/**
 * The server end of a SPDY/3.1 connection as kubelet's streaming server runs it: the client
 * opens every stream (SYN_STREAM with a `streamtype` header), the server answers each with an
 * empty SYN_REPLY (client-go waits for it before using the stream), data flows both ways, either
 * side half-closes with FIN, RST_STREAM cancels a stream, PINGs are echoed.
 *
 * Outgoing frames go through one ordered queue: a header block must be compressed in the order
 * the frames are sent (one zlib state per direction), and a stream's SYN_REPLY must precede its
 * data. Incoming frames are handled one at a time for the same reason.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Logger } from '../../../common/logger.js';
import {
  FrameReader,
  MAX_DATA_CHUNK,
  RST_CANCEL,
  RST_INVALID_STREAM,
  RST_PROTOCOL_ERROR,
  decodeHeaderBlock,
  encodeData,
  encodeGoAway,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  type SpdyFrame,
  type SpdyHeaders,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor } from './header-codec.js';

/** One SPDY stream as a Node duplex: reads what the peer sends, writes become data frames. */
export class SpdyStream extends Duplex {
  /** Set when the peer half-closed (FIN); nothing more will be read. */
  remoteFinished = false;
  /** Set when we half-closed (FIN sent). */
  localFinished = false;
  /** Set when either side reset the stream. */
  wasReset = false;

  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly connection: SpdyConnection,
  ) {
    super({ allowHalfOpen: true });
    // Whoever uses the stream sees failures through its reads and writes; a stream nobody
    // listens to must not turn a client that went away into an uncaught 'error'.
    this.on('error', () => undefined);
  }

  /** The first value of a header (names are case-insensitive, SPDY sends them lower-case). */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  override _read(): void {
    // Data is pushed as frames arrive; SPDY/3 as spoken by spdystream has no flow control to apply.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.connection.sendData(this.id, chunk, false).then(() => callback(), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.localFinished = true;
    this.connection.sendData(this.id, Buffer.alloc(0), true).then(() => callback(), callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.wasReset && !(this.localFinished && this.remoteFinished)) {
      this.wasReset = true;
      this.connection.resetStream(this.id, RST_CANCEL);
    }
    this.connection.forget(this.id);
    callback(err);
  }

  /** Called by the connection. */
  receive(data: Buffer, fin: boolean): void {
    if (this.remoteFinished) return;
    if (data.length > 0) this.push(data);
    if (fin) {
      this.remoteFinished = true;
      this.push(null);
    }
  }

  /** Called by the connection when the peer reset the stream or the connection went away. */
  abort(): void {
    this.wasReset = true;
    if (!this.remoteFinished) {
      this.remoteFinished = true;
      this.push(null);
    }
    this.destroy();
  }
}

export interface SpdyConnectionOptions {
  logger: Logger;
  /** A stream the client opened; its SYN_REPLY is already queued. */
  onStream: (stream: SpdyStream) => void;
}

export class SpdyConnection extends EventEmitter {
  private readonly reader = new FrameReader();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private outgoing: Promise<void> = Promise.resolve();
  private incoming: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  private isClosed = false;
  /** Resolves once the socket has closed (either side). */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Duplex,
    private readonly options: SpdyConnectionOptions,
  ) {
    super();
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('error', (err) => options.logger.debug({ err }, 'streaming connection error'));
    socket.once('close', () => this.teardown());
    socket.once('end', () => socket.end());
  }

  /** Bytes that arrived with the HTTP upgrade request, after its headers. */
  feed(chunk: Buffer): void {
    if (this.isClosed || chunk.length === 0) return;
    let frames: SpdyFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.options.logger.warn({ err }, 'malformed SPDY frame: closing the streaming connection');
      this.socket.destroy();
      return;
    }
    for (const frame of frames) {
      this.incoming = this.incoming.then(() =>
        this.handle(frame).catch((err: unknown) => {
          this.options.logger.warn({ err }, 'SPDY protocol error: closing the streaming connection');
          this.socket.destroy();
        }),
      );
    }
  }

  private async handle(frame: SpdyFrame): Promise<void> {
    switch (frame.kind) {
      case 'syn_stream': {
        // The header block must be decompressed even for a refused stream: it advances the zlib state.
        const headers = decodeHeaderBlock(await this.decompressor.decompress(frame.headerBlock));
        if (frame.streamId <= this.lastStreamId || frame.streamId % 2 === 0) {
          this.resetStream(frame.streamId, RST_PROTOCOL_ERROR);
          return;
        }
        this.lastStreamId = frame.streamId;
        const stream = new SpdyStream(frame.streamId, headers, this);
        this.streams.set(frame.streamId, stream);
        this.enqueue(async () =>
          encodeSynReply(frame.streamId, await this.compressor.compress(encodeHeaderBlock({})), false),
        );
        if (frame.fin || frame.unidirectional) stream.receive(Buffer.alloc(0), true);
        this.options.onStream(stream);
        return;
      }
      case 'data': {
        const stream = this.streams.get(frame.streamId);
        if (!stream) {
          if (frame.streamId > this.lastStreamId) this.resetStream(frame.streamId, RST_INVALID_STREAM);
          return;
        }
        stream.receive(frame.data, frame.fin);
        return;
      }
      case 'headers':
      case 'syn_reply':
        await this.decompressor.decompress(frame.headerBlock);
        if (frame.fin) this.streams.get(frame.streamId)?.receive(Buffer.alloc(0), true);
        return;
      case 'rst_stream':
        this.streams.get(frame.streamId)?.abort();
        return;
      case 'ping':
        this.enqueue(() => encodePing(frame.id));
        return;
      case 'goaway':
        void this.close();
        return;
      case 'ignored':
        return;
    }
  }

  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void> {
    if (data.length <= MAX_DATA_CHUNK) return this.enqueue(() => encodeData(streamId, data, fin));
    let last: Promise<void> = Promise.resolve();
    for (let offset = 0; offset < data.length; offset += MAX_DATA_CHUNK) {
      const end = Math.min(offset + MAX_DATA_CHUNK, data.length);
      const chunk = data.subarray(offset, end);
      last = this.enqueue(() => encodeData(streamId, chunk, fin && end === data.length));
    }
    return last;
  }

  resetStream(streamId: number, status: number): void {
    void this.enqueue(() => encodeRstStream(streamId, status)).catch(() => undefined);
  }

  forget(streamId: number): void {
    this.streams.delete(streamId);
  }

  /** Says goodbye (GOAWAY), flushes what is queued and closes the socket. */
  async close(): Promise<void> {
    if (this.isClosed) return this.closed;
    await this.enqueue(() => encodeGoAway(this.lastStreamId)).catch(() => undefined);
    this.socket.end();
    this.teardown();
    return this.closed;
  }

  /** Cuts the connection at once (server shutdown). */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  private teardown(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const stream of [...this.streams.values()]) stream.abort();
    this.streams.clear();
    this.compressor.close();
    this.decompressor.close();
    this.emit('closed');
  }

  private enqueue(build: () => Buffer | Promise<Buffer>): Promise<void> {
    const next = this.outgoing.then(async () => {
      if (this.socket.destroyed || this.socket.writableEnded)
        throw new Error('the streaming connection is closed');
      const frame = await build();
      await writeWithBackpressure(this.socket, frame);
    });
    this.outgoing = next.catch(() => undefined);
    return next;
  }
}

function writeWithBackpressure(socket: Duplex, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.write(data)) return resolve();
    const onDrain = (): void => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.off('drain', onDrain);
      reject(new Error('the streaming connection closed'));
    };
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}
