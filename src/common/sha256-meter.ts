/** A pass-through stream that hashes (sha256) and counts what flows through it. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export type Sha256Meter = Transform & {
  /** `sha256:<hex>` of everything passed so far; call once, after the stream ended. */
  digest: () => string;
  bytes: () => number;
};

/** `onBytes` gets the running total after every chunk (progress reports). */
export function sha256Meter(onBytes?: (total: number) => void): Sha256Meter {
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      done(null, chunk);
    },
  });
  return Object.assign(meter, { digest: () => `sha256:${hash.digest('hex')}`, bytes: () => bytes });
}
