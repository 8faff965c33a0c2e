/** Errors specific to content verification. */
import { InvalidArgumentError } from '../common/errors.js';
import type { Digest } from './digest.js';

/** The bytes written do not hash to the digest the caller expected; nothing was committed. */
export class DigestMismatchError extends InvalidArgumentError {
  readonly expected: Digest;
  readonly actual: Digest;
  constructor(expected: Digest, actual: Digest, context = '') {
    super(
      `digest mismatch${context ? ` for ${context}` : ''}: expected ${expected}, got ${actual}; nothing was committed`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** The number of bytes written differs from the expected size; nothing was committed. */
export class SizeMismatchError extends InvalidArgumentError {
  readonly expectedSize: number;
  readonly actualSize: number;
  constructor(digest: Digest, expectedSize: number, actualSize: number) {
    super(
      `size mismatch for ${digest}: expected ${expectedSize} bytes, got ${actualSize}; nothing was committed`,
    );
    this.expectedSize = expectedSize;
    this.actualSize = actualSize;
  }
}
