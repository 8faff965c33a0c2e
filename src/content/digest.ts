/** Digest parsing and validation: Berth stores and accepts sha256 only. */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../common/errors.js';

/** A validated digest string of the form `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

const SHA256_HEX = /^[a-f0-9]{64}$/;

/**
 * Validates a digest and returns it typed. Anything else (other algorithms, upper case,
 * wrong length, path separators) is refused, so a digest can safely become a file name.
 */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  if (colon <= 0) {
    throw new InvalidArgumentError(
      `invalid digest ${JSON.stringify(value)}: expected "sha256:<64 hex characters>"`,
    );
  }
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== 'sha256') {
    if (/^[a-z0-9]+([+._-][a-z0-9]+)*$/.test(algorithm)) {
      throw new InvalidArgumentError(
        `unsupported digest algorithm ${JSON.stringify(algorithm)} in ${JSON.stringify(value)}: only sha256 is supported`,
      );
    }
    throw new InvalidArgumentError(`invalid digest ${JSON.stringify(value)}: malformed algorithm`);
  }
  if (!SHA256_HEX.test(encoded)) {
    throw new InvalidArgumentError(
      `invalid digest ${JSON.stringify(value)}: a sha256 digest is 64 lowercase hex characters`,
    );
  }
  return value as Digest;
}

/** True when `value` is a valid sha256 digest. */
export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** The hex part of a validated digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The sha256 digest of a buffer. */
export function digestOf(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
