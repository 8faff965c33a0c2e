/** Pushes an image from the content store to a registry: blobs first, then manifests. */
import { BerthError } from '../common/errors.js';
import type { Digest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';
import type { RegistryClient } from './client.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { formatReference, type ImageReference } from './reference.js';

export interface PushResult {
  /** The digest now tagged in the registry (manifest or index). */
  digest: Digest;
  /** Blobs uploaded (those the registry lacked). */
  uploaded: Digest[];
  /** Blobs the registry already had. */
  skipped: Digest[];
}

/**
 * Pushes the manifest or index `digest` and everything it references that is in `store`
 * to `ref` (its tag). Children go first so the registry never holds a manifest whose blobs
 * are missing; an index's platforms that were never pulled are refused by name.
 */
export async function pushImage(
  client: RegistryClient,
  store: ContentStore,
  ref: ImageReference,
  digest: Digest,
): Promise<PushResult> {
  const result: PushResult = { digest, uploaded: [], skipped: [] };
  const pushBlob = async (desc: Descriptor): Promise<void> => {
    const sent = await client.pushBlob(ref, desc, () => store.readStream(desc.digest));
    (sent ? result.uploaded : result.skipped).push(desc.digest);
  };
  const pushManifestTree = async (d: Digest, asTag: boolean): Promise<void> => {
    const body = await store.readAll(d);
    const parsed = parseManifest(body, undefined, `${d} in the content store`);
    if (parsed.kind === 'index') {
      for (const child of parsed.index.manifests) {
        if (!(await store.has(child.digest))) {
          throw new BerthError(
            'failed_precondition',
            `cannot push ${formatReference(ref)}: the index lists ${child.digest}, which is not in the content store (only pulled platforms can be pushed)`,
          );
        }
        await pushManifestTree(child.digest, false);
      }
    } else {
      for (const desc of [parsed.manifest.config, ...parsed.manifest.layers]) await pushBlob(desc);
    }
    const mediaType = parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType;
    const target: ImageReference = asTag ? ref : { domain: ref.domain, path: ref.path, digest: d };
    await client.pushManifest(target, mediaType, body);
  };
  await pushManifestTree(digest, true);
  return result;
}
