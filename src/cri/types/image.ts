/** Image types in Berth's own terms, for the ImageService RPCs. */
import type { UnixNanos } from './sandbox.js';

/** CRI ImageSpec: the image as the caller named it. */
export interface ImageSpec {
  /** A reference (`busybox`, `repo:tag`, `repo@sha256:…`) or an image id. */
  image: string;
  annotations: Record<string, string>;
  userSpecifiedImage: string;
  runtimeHandler: string;
}

export interface ImageRecord {
  /** Image id: the config digest, `sha256:…`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Bytes on disk (compressed layers plus config and manifests). */
  size: number;
  /** Numeric user the image runs as, when the config's User is a number. */
  uid?: number;
  /** The image's user when it is a name. */
  username: string;
  spec?: ImageSpec;
  /** Never garbage-collected by kubelet. */
  pinned: boolean;
}

export interface ImageStatusResult {
  /** Undefined when the image is not present: CRI answers success with no image. */
  image?: ImageRecord;
  /** Only filled when the caller asked for verbose output. */
  info: Record<string, string>;
}

/** Registry credentials from PullImage's AuthConfig; empty strings mean "not given". */
export interface PullAuth {
  username: string;
  password: string;
  /** base64 `user:password`, as in a docker config. */
  auth: string;
  serverAddress: string;
  identityToken: string;
  registryToken: string;
}

export interface FilesystemUsage {
  timestamp: UnixNanos;
  mountpoint: string;
  usedBytes?: number;
  inodesUsed?: number;
}

export interface ImageFsInfoResult {
  imageFilesystems: FilesystemUsage[];
  containerFilesystems: FilesystemUsage[];
}
