/** Unpack errors: each names the layer entry, digest or media type at fault. */
import { InvalidArgumentError, UnimplementedError } from '../common/errors.js';

/** A layer entry that would reach outside the snapshot, or that no filesystem can hold; the layer is refused. */
export class UnsafeLayerEntryError extends InvalidArgumentError {
  constructor(
    readonly entry: string,
    readonly why: string,
  ) {
    super(
      `layer entry ${JSON.stringify(entry.length > 300 ? entry.slice(0, 300) + '…' : entry)} refused: ${why}`,
    );
  }
}

/** A layer entry that is well-formed but cannot be applied (unsupported type, missing hardlink target). */
export class InvalidLayerEntryError extends InvalidArgumentError {
  constructor(
    readonly entry: string,
    readonly why: string,
  ) {
    super(
      `layer entry ${JSON.stringify(entry.length > 300 ? entry.slice(0, 300) + '…' : entry)} cannot be applied: ${why}`,
    );
  }
}

/** The uncompressed layer does not hash to the diff id the image config promises. */
export class DiffIdMismatchError extends InvalidArgumentError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `layer diff id mismatch: the image config expects ${expected} but the uncompressed layer is ${actual}`,
    );
  }
}

/** The layer stream is not a valid (compressed) tar: truncated, corrupt, or not what its media type says. */
export class CorruptLayerError extends InvalidArgumentError {}

export class UnsupportedMediaTypeError extends UnimplementedError {
  constructor(readonly mediaType: string) {
    super(
      `layer media type ${JSON.stringify(mediaType)} is not supported (plain, gzip or zstd tar layers are)`,
    );
  }
}
