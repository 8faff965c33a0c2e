/**
 * Chain ids as the OCI image spec defines them: ChainID(L0) = DiffID(L0),
 * ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)). A chain id names a layer
 * together with everything below it, so it keys committed snapshots.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../common/errors.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The chain id of every prefix of `diffIds`: result[i] is the chain id of layers 0..i. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    if (!DIGEST.test(diffId))
      throw new InvalidArgumentError(`diff id ${JSON.stringify(diffId)} is not a sha256 digest`);
    const prev = out[out.length - 1];
    out.push(
      prev === undefined
        ? diffId
        : 'sha256:' + createHash('sha256').update(`${prev} ${diffId}`).digest('hex'),
    );
  }
  return out;
}
