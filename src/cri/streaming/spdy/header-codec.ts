/**
 * SPDY/3 header compression: one zlib stream per direction for the whole connection, primed
 * with the SPDY dictionary, each header block ended by a sync flush so the peer can decode it
 * alone. zlib works asynchronously here, so blocks are processed strictly one after another
 * (a later block depends on the compression state the earlier ones left).
 */
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { SPDY3_HEADER_DICTIONARY } from './dictionary.js';

class SerialZlib {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly engine: Deflate | Inflate) {
    // Errors are reported to the caller of process(); an unhandled 'error' would crash berthd.
    engine.on('error', () => {});
  }

  process(input: Buffer): Promise<Buffer> {
    const result = this.queue.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          const chunks: Buffer[] = [];
          const onData = (chunk: Buffer): void => void chunks.push(chunk);
          const onError = (err: Error): void => {
            this.engine.off('data', onData);
            reject(err);
          };
          this.engine.on('data', onData);
          this.engine.once('error', onError);
          this.engine.write(input);
          // The flush callback runs after the output of everything written so far was pushed.
          this.engine.flush(constants.Z_SYNC_FLUSH, () => {
            this.engine.off('data', onData);
            this.engine.off('error', onError);
            resolve(Buffer.concat(chunks));
          });
        }),
    );
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.engine.close();
  }
}

export class HeaderCompressor {
  private readonly zlib = new SerialZlib(createDeflate({ dictionary: SPDY3_HEADER_DICTIONARY }));
  compress(block: Buffer): Promise<Buffer> {
    return this.zlib.process(block);
  }
  close(): void {
    this.zlib.close();
  }
}

export class HeaderDecompressor {
  private readonly zlib = new SerialZlib(createInflate({ dictionary: SPDY3_HEADER_DICTIONARY }));
  decompress(block: Buffer): Promise<Buffer> {
    return this.zlib.process(block);
  }
  close(): void {
    this.zlib.close();
  }
}
