/**
 * Finding a recorded image by a repo digest (`host/repo@sha256:…`): an image pulled by tag is
 * recorded under its tag, yet it is also known by the digest of what it was pulled as, in that
 * repository (the repo digest CRI's ImageStatus reports), as containerd and CRI-O resolve it.
 */
import type { ImageRecord } from '../events/projections/state.js';
import { parseReference, referenceName } from '../registry/index.js';

function repositoryOf(name: string): string | undefined {
  try {
    return referenceName(parseReference(name));
  } catch {
    return undefined;
  }
}

/** The record `reference` names by repository and manifest digest; undefined when it names none. */
export function findByRepoDigest(images: readonly ImageRecord[], reference: string): ImageRecord | undefined {
  let wanted: { repository: string; digest: string };
  try {
    const ref = parseReference(reference);
    if (!ref.digest) return undefined;
    wanted = { repository: referenceName(ref), digest: ref.digest };
  } catch {
    return undefined;
  }
  return images.find((i) => i.target.digest === wanted.digest && repositoryOf(i.name) === wanted.repository);
}
