/**
 * ImageService RPCs over Berth's ImageService. CRI sees one image per image id (the config
 * digest) with all its tags and repo digests; Berth records one image per name, so records
 * sharing a config digest are grouped.
 */
import { FailedPreconditionError, NotFoundError } from '../../common/errors.js';
import type { ImageRecord as BerthImage } from '../../events/projections/state.js';
import { snapshotKind } from '../../snapshots/index.js';
import type {
  ImageRecord,
  ImageFsInfoResult,
  ImageSpec,
  ImageStatusResult,
  PullAuth,
} from '../types/image.js';
import { CRI_NAMESPACE, nowNanos, type BerthCriDeps } from './deps.js';

function imageId(record: BerthImage): string {
  return record.configDigest ?? record.target.digest;
}

/** The repository part of an image name (`host/repo` of `host/repo:tag` or `host/repo@sha256:…`). */
export function repository(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** The CRI record of every Berth record sharing one image id. */
function toCri(records: BerthImage[], user?: { uid?: number; username: string }): ImageRecord {
  const first = records[0]!;
  const tags = records.map((r) => r.name).filter((n) => !n.includes('@'));
  const digests = [...new Set(records.map((r) => `${repository(r.name)}@${r.target.digest}`))];
  return {
    id: imageId(first),
    repoTags: tags.sort(),
    repoDigests: digests.sort(),
    size: Math.max(...records.map((r) => r.size ?? r.target.size ?? 0)),
    username: user?.username ?? '',
    ...(user?.uid !== undefined ? { uid: user.uid } : {}),
    pinned: false,
  };
}

function grouped(records: BerthImage[]): BerthImage[][] {
  const byId = new Map<string, BerthImage[]>();
  for (const r of records) byId.set(imageId(r), [...(byId.get(imageId(r)) ?? []), r]);
  return [...byId.values()];
}

export class CriImages {
  constructor(private readonly deps: BerthCriDeps) {}

  /** The CRI image whose manifest a container was created from; undefined once it is removed. */
  ofManifest(digest: string | undefined): ImageRecord | undefined {
    if (!digest) return undefined;
    const records = this.deps
      .images()
      .list(CRI_NAMESPACE)
      .filter((r) => r.target.digest === digest);
    return records.length > 0 ? toCri(records) : undefined;
  }

  list(filter: ImageSpec | undefined): ImageRecord[] {
    const all = this.deps.images().list(CRI_NAMESPACE);
    if (!filter?.image) return grouped(all).map((g) => toCri(g));
    const found = this.find(filter.image);
    return found ? [toCri(found)] : [];
  }

  async status(spec: ImageSpec, verbose: boolean): Promise<ImageStatusResult> {
    const records = this.find(spec.image);
    if (!records) return { info: {} };
    // An image whose snapshots are gone (dropped after a power loss, say) is reported absent, so
    // kubelet pulls it again: the pull unpacks it from the content store.
    const chainId = records[0]!.chainId;
    if (
      chainId &&
      (await snapshotKind(this.deps.node().snapshotter, chainId).catch(() => undefined)) !== 'committed'
    )
      return { info: {} };
    const config = await this.deps
      .images()
      .config(records[0]!)
      .catch(() => undefined);
    const user = config?.config?.User ?? '';
    const name = user.split(':')[0] ?? '';
    const uid = /^\d+$/.test(name) ? Number(name) : undefined;
    const image = toCri(records, {
      username: uid === undefined ? name : '',
      ...(uid !== undefined ? { uid } : {}),
    });
    const info: Record<string, string> = verbose
      ? { info: JSON.stringify({ imageSpec: config ?? {}, chainId: records[0]!.chainId ?? '' }) }
      : {};
    return { image, info };
  }

  async pull(spec: ImageSpec, auth: PullAuth | undefined): Promise<string> {
    const credentials = auth ? credentialsOf(auth) : undefined;
    const record = await this.deps.images().pull({
      ref: spec.image,
      namespace: CRI_NAMESPACE,
      ...(credentials ? { auth: credentials } : {}),
    });
    return imageId(record);
  }

  /**
   * Removes every name of the image (CRI removes an image with all its tags). Refused while a
   * container runs from the image or mounts it as an image volume (by digest): kubelet removes
   * containers first.
   */
  async remove(spec: ImageSpec): Promise<void> {
    const records = this.find(spec.image);
    if (!records) throw new NotFoundError(`image "${spec.image}" not found`);
    const digests = new Set(records.map((r) => r.target.digest));
    const containers = this.deps.containers.list({ namespace: CRI_NAMESPACE });
    const user = containers.find((c) => c.imageDigest && digests.has(c.imageDigest));
    if (user)
      throw new FailedPreconditionError(
        `image "${spec.image}" is in use by container ${user.id}: remove the container first`,
      );
    const mounter = containers.find((c) => c.imageVolumes?.some((d) => digests.has(d)));
    if (mounter)
      throw new FailedPreconditionError(
        `image "${spec.image}" is mounted as an image volume by container ${mounter.id}: remove the container first`,
      );
    for (const r of records) await this.deps.images().remove(r.name, CRI_NAMESPACE);
  }

  async fsInfo(): Promise<ImageFsInfoResult> {
    const info = await this.deps.images().fsInfo();
    const timestamp = nowNanos();
    return {
      imageFilesystems: [
        {
          timestamp,
          mountpoint: info.images.path,
          usedBytes: info.images.usedBytes,
          inodesUsed: info.images.inodesUsed,
        },
      ],
      containerFilesystems: [
        {
          timestamp,
          mountpoint: info.containers.path,
          usedBytes: info.containers.usedBytes,
          inodesUsed: info.containers.inodesUsed,
        },
      ],
    };
  }

  /** The records of the image a reference, image id or id prefix names; undefined when absent. */
  find(ref: string): BerthImage[] | undefined {
    let record: BerthImage;
    try {
      record = this.deps.images().get(ref, CRI_NAMESPACE);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    const id = imageId(record);
    return this.deps
      .images()
      .list(CRI_NAMESPACE)
      .filter((r) => imageId(r) === id);
  }
}

function credentialsOf(
  auth: PullAuth,
): { username?: string; password?: string; identityToken?: string; registryToken?: string } | undefined {
  let { username, password } = auth;
  if (!username && auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const out = {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(auth.identityToken ? { identityToken: auth.identityToken } : {}),
    ...(auth.registryToken ? { registryToken: auth.registryToken } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}
