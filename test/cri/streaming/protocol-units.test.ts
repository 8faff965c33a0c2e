/** Units of the streaming server: SPDY dictionary and framing, header compression, tokens, resize parsing. */
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TerminalSize } from '../../../src/cri/streaming/backend.js';
import { RequestCache } from '../../../src/cri/streaming/requests.js';
import { terminalSizes } from '../../../src/cri/streaming/resize.js';
import { SPDY3_HEADER_DICTIONARY } from '../../../src/cri/streaming/spdy/dictionary.js';
import {
  FrameReader,
  decodeHeaderBlock,
  encodeData,
  encodeHeaderBlock,
  encodeRstStream,
  encodeSynStream,
} from '../../../src/cri/streaming/spdy/frames.js';
import { HeaderCompressor, HeaderDecompressor } from '../../../src/cri/streaming/spdy/header-codec.js';

describe('SPDY/3', () => {
  it('the header dictionary is byte for byte the one Go spdystream uses', () => {
    expect(SPDY3_HEADER_DICTIONARY.length).toBe(1423);
    expect(createHash('sha256').update(SPDY3_HEADER_DICTIONARY).digest('hex')).toBe(
      '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02',
    );
  });

  it('frames survive being split at every byte', () => {
    const wire = Buffer.concat([
      encodeSynStream(1, Buffer.from('hdrs'), false),
      encodeData(1, Buffer.from('payload'), true),
      encodeRstStream(3, 5),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader();
      const frames = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
      expect(frames.map((f) => f.kind)).toEqual(['syn_stream', 'data', 'rst_stream']);
      const data = frames[1]!;
      expect(data.kind === 'data' && data.fin && data.data.toString()).toBe('payload');
    }
  });

  it('refuses other SPDY versions', () => {
    const frame = encodeRstStream(1, 5);
    frame.writeUInt16BE(0x8002, 0);
    expect(() => new FrameReader().push(frame)).toThrow(/version 2/);
  });

  it('header blocks round-trip through one compression context per direction', async () => {
    const compressor = new HeaderCompressor();
    const decompressor = new HeaderDecompressor();
    try {
      for (let i = 0; i < 50; i++) {
        const headers = { streamtype: ['stdout'], port: [String(i)], multi: ['a', 'b'] };
        const wire = await compressor.compress(encodeHeaderBlock(headers));
        expect(decodeHeaderBlock(await decompressor.decompress(wire))).toEqual(headers);
      }
    } finally {
      compressor.close();
      decompressor.close();
    }
  });

  it('a truncated header block is an error, not a crash', () => {
    expect(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 2, 0, 0, 0, 9, 65]))).toThrow(/truncated/);
  });
});

describe('one-time streaming tokens', () => {
  const request = { kind: 'portforward' as const, podSandboxId: 'p', ports: [80] };

  it('are single use', () => {
    const cache = new RequestCache();
    const token = cache.insert(request);
    expect(cache.consume(token)).toEqual(request);
    expect(cache.consume(token)).toBeUndefined();
  });

  it('expire after their time to live', () => {
    let now = 1_000;
    const cache = new RequestCache({ ttlMs: 100, now: () => now });
    const token = cache.insert(request);
    now += 100;
    expect(cache.consume(token)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('are bounded: beyond the limit a request is refused until older ones expire', () => {
    let now = 0;
    const cache = new RequestCache({ ttlMs: 10, maxWaiting: 2, now: () => now });
    cache.insert(request);
    cache.insert(request);
    expect(() => cache.insert(request)).toThrow(/too many streaming sessions/);
    now = 10;
    expect(() => cache.insert(request)).not.toThrow();
  });
});

describe('resize channel', () => {
  it('parses back-to-back JSON sizes split anywhere, skipping garbage', async () => {
    const channel = new PassThrough();
    const sizes: TerminalSize[] = [];
    const done = (async () => {
      for await (const size of terminalSizes(channel)) sizes.push(size);
    })();
    channel.write('{"Width":80,"He');
    channel.write('ight":24}{"Width":-1,"Height":3}{"Width":120,"Height":40}');
    channel.end('{"Width":1');
    await done;
    expect(sizes).toEqual([
      { width: 80, height: 24 },
      { width: 120, height: 40 },
    ]);
  });
});
