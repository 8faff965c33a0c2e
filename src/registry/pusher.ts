/** Pushes an image from the content store to a registry: blobs first, then manifests. */
import { BerthError } from '../common/errors.js';
import type { Digest } from '../content/digest.js';
import type { ContentStore } from '../content/store.js';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import type { Endpoint } from './transport.js';
import { parseManifest, type Descriptor } from './manifest.js';
import { formatReference, manifestSelector, referenceName, type ImageReference } from './reference.js';

const pushScope = (ref: ImageReference): string => `repository:${ref.path}:pull,push`;

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
  const pushChild = async (desc: Descriptor): Promise<void> => {
    const sent = await pushBlob(client, ref, desc, () => store.readStream(desc.digest));
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
      for (const desc of [parsed.manifest.config, ...parsed.manifest.layers]) await pushChild(desc);
    }
    const mediaType = parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType;
    const target: ImageReference = asTag ? ref : { domain: ref.domain, path: ref.path, digest: d };
    await pushManifest(client, target, mediaType, body);
  };
  await pushManifestTree(digest, true);
  return result;
}

/**
 * Uploads a blob (monolithic POST then PUT with the digest) unless the registry already
 * has it; `open` is called only when bytes must be sent. Returns whether it uploaded.
 */
export async function pushBlob(
  client: RegistryClient,
  ref: ImageReference,
  desc: Descriptor,
  open: () => Promise<Readable | Buffer>,
): Promise<boolean> {
  const ep = client.transport.endpoints(ref.domain).at(-1) as Endpoint;
  const what = `upload of blob ${desc.digest} to ${referenceName(ref)}`;
  const scope = pushScope(ref);
  const blobPath = `/v2/${ref.path}/blobs/${desc.digest}`;
  const head = await client.transport.send(ep, {
    method: 'HEAD',
    path: blobPath,
    scope,
    what,
    ok: (s) => s === 200 || s === 404,
  });
  await head.body.dump();
  if (head.statusCode === 200) return false;
  const start = await client.transport.send(ep, {
    method: 'POST',
    path: `/v2/${ref.path}/blobs/uploads/`,
    scope,
    what,
    ok: (s) => s === 202,
  });
  await start.body.dump();
  const location = start.headers['location'];
  if (typeof location !== 'string')
    throw new RegistryError('failed_precondition', `${what}: ${ep.baseUrl.host} gave no upload location`);
  const url = new URL(location, ep.baseUrl);
  url.searchParams.set('digest', desc.digest);
  const put = await client.transport.send(ep, {
    method: 'PUT',
    path: url.toString(),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
    body: await open(),
    scope,
    what,
    ok: (s) => s === 201,
  });
  await put.body.dump();
  return true;
}

/** Uploads a manifest or index under `ref`'s tag (or digest). */
export async function pushManifest(
  client: RegistryClient,
  ref: ImageReference,
  mediaType: string,
  body: Buffer,
): Promise<Digest> {
  const ep = client.transport.endpoints(ref.domain).at(-1) as Endpoint;
  const what = `upload of manifest ${formatReference(ref)}`;
  const res = await client.transport.send(ep, {
    method: 'PUT',
    path: `/v2/${ref.path}/manifests/${manifestSelector(ref)}`,
    headers: { 'content-type': mediaType },
    body,
    scope: pushScope(ref),
    what,
    ok: (s) => s === 201,
  });
  await res.body.dump();
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}
