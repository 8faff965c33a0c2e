/**
 * SPDY/3 framing (the subset kubelet's streaming protocols use; SPDY/3.1 only adds flow control,
 * which Go's spdystream on the other end neither sends nor enforces).
 *
 * Control frame: 1 bit set, 15-bit version (3), 16-bit type, 8-bit flags, 24-bit length.
 * Data frame: 1 bit clear, 31-bit stream id, 8-bit flags, 24-bit length.
 * Header blocks are handed out and taken in compressed; header-codec.ts does the zlib part.
 */
import { InvalidArgumentError } from '../../../common/errors.js';

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const TYPE_SYN_STREAM = 1;
export const TYPE_SYN_REPLY = 2;
export const TYPE_RST_STREAM = 3;
export const TYPE_SETTINGS = 4;
export const TYPE_PING = 6;
export const TYPE_GOAWAY = 7;
export const TYPE_HEADERS = 8;
export const TYPE_WINDOW_UPDATE = 9;

/** RST_STREAM status codes used here. */
export const RST_PROTOCOL_ERROR = 1;
export const RST_INVALID_STREAM = 2;
export const RST_REFUSED_STREAM = 3;
export const RST_CANCEL = 5;

/** The largest data frame we send; the format allows 16 MiB, smaller keeps streams interleaved. */
export const MAX_DATA_CHUNK = 32 * 1024;
/** A frame bigger than this is a broken or hostile peer, not a terminal session. */
const MAX_FRAME_LENGTH = 16 * 1024 * 1024 - 1;

export type SpdyFrame =
  | { kind: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { kind: 'syn_stream'; streamId: number; fin: boolean; unidirectional: boolean; headerBlock: Buffer }
  | { kind: 'syn_reply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  /** SETTINGS, WINDOW_UPDATE and unknown types: nothing to do for them. */
  | { kind: 'ignored'; type: number };

/** Splits a byte stream into frames; feed it whatever the socket delivers. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): SpdyFrame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: SpdyFrame[] = [];
    while (this.pending.length >= 8) {
      const length = this.pending.readUInt32BE(4) & 0xffffff;
      if (length > MAX_FRAME_LENGTH) throw new InvalidArgumentError(`SPDY frame of ${length} bytes`);
      if (this.pending.length < 8 + length) break;
      const frame = this.pending.subarray(0, 8 + length);
      this.pending = this.pending.subarray(8 + length);
      frames.push(parseFrame(frame));
    }
    return frames;
  }
}

function parseFrame(frame: Buffer): SpdyFrame {
  const first = frame.readUInt32BE(0);
  const flags = frame[4]!;
  const payload = frame.subarray(8);
  const fin = (flags & FLAG_FIN) !== 0;
  if ((first & 0x80000000) === 0) {
    return { kind: 'data', streamId: first & 0x7fffffff, fin, data: payload };
  }
  const version = (first >>> 16) & 0x7fff;
  if (version !== SPDY_VERSION)
    throw new InvalidArgumentError(`SPDY version ${version} is not supported (only 3)`);
  const type = first & 0xffff;
  const need = (n: number): void => {
    if (payload.length < n) throw new InvalidArgumentError(`SPDY frame type ${type} is too short`);
  };
  switch (type) {
    case TYPE_SYN_STREAM:
      need(10);
      return {
        kind: 'syn_stream',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        fin,
        unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
        headerBlock: payload.subarray(10),
      };
    case TYPE_SYN_REPLY:
    case TYPE_HEADERS:
      need(4);
      return {
        kind: type === TYPE_SYN_REPLY ? 'syn_reply' : 'headers',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        fin,
        headerBlock: payload.subarray(4),
      };
    case TYPE_RST_STREAM:
      need(8);
      return {
        kind: 'rst_stream',
        streamId: payload.readUInt32BE(0) & 0x7fffffff,
        status: payload.readUInt32BE(4),
      };
    case TYPE_PING:
      need(4);
      return { kind: 'ping', id: payload.readUInt32BE(0) };
    case TYPE_GOAWAY:
      need(4);
      return {
        kind: 'goaway',
        lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff,
        status: payload.length >= 8 ? payload.readUInt32BE(4) : 0,
      };
    default:
      return { kind: 'ignored', type };
  }
}

function controlHeader(type: number, flags: number, length: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return header;
}

export function encodeData(streamId: number, data: Buffer, fin: boolean): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
  return Buffer.concat([header, data]);
}

export function encodeSynStream(streamId: number, compressedHeaders: Buffer, fin: boolean): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  // associated stream 0, priority 0, slot 0
  return Buffer.concat([
    controlHeader(TYPE_SYN_STREAM, fin ? FLAG_FIN : 0, 10 + compressedHeaders.length),
    body,
    compressedHeaders,
  ]);
}

export function encodeSynReply(streamId: number, compressedHeaders: Buffer, fin: boolean): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff, 0);
  return Buffer.concat([
    controlHeader(TYPE_SYN_REPLY, fin ? FLAG_FIN : 0, 4 + compressedHeaders.length),
    id,
    compressedHeaders,
  ]);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([controlHeader(TYPE_RST_STREAM, 0, 8), body]);
}

export function encodePing(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(id >>> 0, 0);
  return Buffer.concat([controlHeader(TYPE_PING, 0, 4), body]);
}

export function encodeGoAway(lastGoodStreamId: number, status = 0): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([controlHeader(TYPE_GOAWAY, 0, 8), body]);
}

/** Header names are lower-case on the wire; several values of one name are joined by NUL. */
export type SpdyHeaders = Record<string, string[]>;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, values] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = {};
  let offset = 0;
  const read = (): string => {
    if (offset + 4 > block.length) throw new InvalidArgumentError('truncated SPDY header block');
    const length = block.readUInt32BE(offset);
    offset += 4;
    if (offset + length > block.length) throw new InvalidArgumentError('truncated SPDY header block');
    const text = block.toString('utf8', offset, offset + length);
    offset += length;
    return text;
  };
  if (block.length < 4) throw new InvalidArgumentError('truncated SPDY header block');
  const count = block.readUInt32BE(0);
  offset = 4;
  for (let i = 0; i < count; i++) {
    const name = read().toLowerCase();
    const values = read().split('\0');
    headers[name] = [...(headers[name] ?? []), ...values];
  }
  return headers;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}
