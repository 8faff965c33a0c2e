/** Image messages: ImageSpec and AuthConfig in, Image and filesystem usage out. */
import type { FilesystemUsage, ImageRecord, ImageSpec, PullAuth } from '../types/image.js';
import { requireMessage, requireNonEmpty, validateStringMap } from '../validate.js';
import type { OutFilesystemUsage, OutImage, OutImageSpec, WireAuthConfig, WireImageSpec } from '../wire.js';
import { nanosOut, u64 } from './common.js';

/** An ImageSpec that must name an image (`image` non-empty). */
export function imageSpecFromWire(field: string, wire: WireImageSpec | null): ImageSpec {
  const spec = requireMessage(field, wire);
  return {
    image: requireNonEmpty(`${field}.image`, spec.image),
    annotations: validateStringMap(`${field}.annotations`, spec.annotations),
    userSpecifiedImage: spec.user_specified_image,
    runtimeHandler: spec.runtime_handler,
  };
}

export function imageSpecToWire(spec: ImageSpec): OutImageSpec {
  return {
    image: spec.image,
    annotations: { ...spec.annotations },
    user_specified_image: spec.userSpecifiedImage,
    runtime_handler: spec.runtimeHandler,
  };
}

export function imageToWire(image: ImageRecord): OutImage {
  return {
    id: image.id,
    repo_tags: [...image.repoTags],
    repo_digests: [...image.repoDigests],
    size: image.size,
    uid: image.uid === undefined ? null : { value: image.uid },
    username: image.username,
    spec: image.spec ? imageSpecToWire(image.spec) : null,
    pinned: image.pinned,
  };
}

/** Undefined when the request carried no credentials at all. */
export function authFromWire(wire: WireAuthConfig | null): PullAuth | undefined {
  if (!wire) return undefined;
  const auth: PullAuth = {
    username: wire.username,
    password: wire.password,
    auth: wire.auth,
    serverAddress: wire.server_address,
    identityToken: wire.identity_token,
    registryToken: wire.registry_token,
  };
  const any = Object.values(auth).some((v) => v !== '');
  return any ? auth : undefined;
}

export function fsUsageToWire(usage: FilesystemUsage): OutFilesystemUsage {
  return {
    timestamp: nanosOut(usage.timestamp),
    fs_id: { mountpoint: usage.mountpoint },
    used_bytes: u64(usage.usedBytes),
    inodes_used: u64(usage.inodesUsed),
  };
}
