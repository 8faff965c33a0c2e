/**
 * ImageService: what berthd's API and the CRI call for images. Changes (pull, remove, tag) run as
 * workflows through the TransitionRunner; reads come from the projections and the content store.
 * Names are normalized references (`docker.io/library/busybox:latest`); lookups also accept the
 * familiar form (`busybox`), an image id (config digest, or a prefix of its hex) or a target
 * digest prefix. Namespace "default" is the CLI's, "k8s.io" the CRI's.
 */
import { CachedUsage, changesImageFs } from './image-fs-usage.js';
import { randomBytes } from 'node:crypto';
import { access, link, lstat, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { writeOciArchive } from '../images/archive.js';
import { writeDockerArchive } from '../images/docker-archive.js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../common/errors.js';
import type { Digest } from '../content/digest.js';
import type { ImageRecord } from '../events/projections/state.js';
import { progressBus, progressSubject, type PullProgress } from '../images/progress.js';
import { registryAccess } from '../images/clients.js';
import { imageSession, type PullCredentials } from '../images/session.js';
import { findByRepoDigest } from '../images/lookup.js';
import { snapshotKind } from '../snapshots/index.js';
import {
  formatReference,
  parseReference,
  pushImage,
  type ImageReference,
  type PushResult,
} from '../registry/index.js';
import type { PullImageRequest, PulledImageResult } from '../workflows/pull-image.js';
import type { ImportImageRequest, RemoveImageResult } from '../workflows/image-admin.js';
import type { NodeServices } from './node-services.js';
import type { TransitionRunner } from './transitions.js';

export const DEFAULT_NAMESPACE = 'default';
const NAMESPACE = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
/** The registry client's default stall timeout; a pull fails after twice that without progress. */
const DEFAULT_STALL_MS = 30_000;

export interface PullRequest {
  ref: string;
  namespace?: string;
  /** `os/arch[/variant]` of a multi-platform image; the node's own by default. */
  platform?: string;
  auth?: PullCredentials;
  onProgress?: (p: PullProgress) => void;
}

/** The parsed OCI image config (the fields berth reads; others are kept as they are). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs?: { type: string; diff_ids: string[] };
  [key: string]: unknown;
}

export interface FsUsage {
  path: string;
  usedBytes: number;
  inodesUsed: number;
}

/**
 * Where images and containers keep their bytes (KEP-4191's split): `images` is the content store
 * plus the committed snapshots (the unpacked layers, removed with the images), `containers` the
 * writable layers and views of containers; each named by the directory it lives in.
 */
export interface ImageFsInfo {
  images: FsUsage;
  containers: FsUsage;
  usedBytes: number;
  inodesUsed: number;
}

export class ImageService {
  private readonly noProgressTimeoutMs: number;

  private readonly fsUsage: CachedUsage<ImageFsInfo>;
  private readonly unsubscribeFsUsage: () => void;

  constructor(
    private readonly transitions: TransitionRunner,
    private readonly node: NodeServices,
    opts: { noProgressTimeoutMs?: number } = {},
  ) {
    this.fsUsage = new CachedUsage(() => this.measureFs());
    this.unsubscribeFsUsage = node.events.projections.subscribe((event) => {
      if (changesImageFs(event)) this.fsUsage.changed();
    });
    this.noProgressTimeoutMs =
      opts.noProgressTimeoutMs ?? 2 * (node.registry.transport.config.stallTimeoutMs ?? DEFAULT_STALL_MS);
  }

  /** In every image workflow id: nodes sharing a Temporal namespace pull the same image apart. */
  private get nodeId(): string {
    return this.node.config.nodeId;
  }

  /** Resolves, pulls, unpacks and records `ref`; concurrent pulls of one image join one workflow. */
  async pull(req: PullRequest): Promise<ImageRecord> {
    const namespace = checkNamespace(req.namespace);
    const ref = formatReference(parseReference(req.ref));
    const current = await this.alreadyPulled(namespace, ref, req);
    if (current) return current;
    const workflowId = `pull:${this.nodeId}:${namespace}:${ref}`;
    const subject = progressSubject(this.node.config.nodeId, workflowId);
    if (req.auth) imageSession(this.node).credentials.set(workflowId, req.auth);
    const unsubscribe = req.onProgress
      ? await progressBus(this.node).subscribe(subject, req.onProgress)
      : () => undefined;
    try {
      const args: PullImageRequest = {
        ref,
        namespace,
        progressSubject: subject,
        noProgressTimeoutMs: this.noProgressTimeoutMs,
        ...(req.platform ? { platform: req.platform } : {}),
      };
      const result = await this.transitions.run<PulledImageResult>({
        workflowType: 'pullImage',
        workflowId,
        args: [args],
        onFinished: 'again',
        subject: { namespace, image: ref },
      });
      return this.recordOf(namespace, result.name);
    } finally {
      unsubscribe();
    }
  }

  /**
   * The recorded image when `ref` still names what it was pulled as (its target digest, asked of
   * the registry for a tag) and its snapshot is there: nothing changes, so no transition runs, as
   * a pull of a present image in containerd only resolves. Anything else, a registry error included
   * (the workflow reports it), goes through the pull workflow.
   */
  private async alreadyPulled(
    namespace: string,
    ref: string,
    req: PullRequest,
  ): Promise<ImageRecord | undefined> {
    const record = this.node.events.projections.get('images', namespace, ref);
    // A platform other than the node's may resolve an index to another manifest than the recorded one.
    if (!record?.chainId || req.platform) return undefined;
    const parsed = parseReference(ref);
    const digest = parsed.digest ?? (await this.resolveTag(parsed, req.auth).catch(() => undefined));
    if (digest !== record.target.digest) return undefined;
    // Any doubt about the snapshot (a failed lookup too) leaves it to the workflow.
    const kind = await snapshotKind(this.node.snapshotter, record.chainId).catch(() => undefined);
    return kind === 'committed' ? record : undefined;
  }

  /** The digest the registry resolves a tag to now. */
  private async resolveTag(ref: ImageReference, auth: PullCredentials | undefined): Promise<string> {
    const access = registryAccess(this.node, ref, auth);
    try {
      return (await access.client.resolve(ref)).descriptor.digest;
    } finally {
      await access.close();
    }
  }

  list(namespace?: string): ImageRecord[] {
    const ns = namespace === undefined ? undefined : checkNamespace(namespace);
    return this.node.events.projections.list('images', ns).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * By name, familiar name, repo digest (`repo@sha256:…` of an image pulled by tag), image id
   * (config digest) or target digest, or an unambiguous prefix of either.
   */
  get(nameOrId: string, namespace?: string): ImageRecord {
    const ns = checkNamespace(namespace);
    const images = this.node.events.projections.list('images', ns);
    const exact = images.find((i) => i.name === nameOrId);
    if (exact) return exact;
    let normalized: string | undefined;
    try {
      normalized = formatReference(parseReference(nameOrId));
    } catch {
      normalized = undefined;
    }
    const byName = normalized && images.find((i) => i.name === normalized);
    if (byName) return byName;
    const byRepoDigest = findByRepoDigest(images, nameOrId);
    if (byRepoDigest) return byRepoDigest;
    const hex = nameOrId.replace(/^sha256:/, '');
    if (/^[0-9a-f]{3,64}$/.test(hex)) {
      const hits = images.filter(
        (i) => i.configDigest?.slice(7).startsWith(hex) || i.target.digest.slice(7).startsWith(hex),
      );
      const ids = new Set(hits.map((i) => i.configDigest ?? i.target.digest));
      if (ids.size === 1) return hits[0] as ImageRecord;
      if (ids.size > 1)
        throw new InvalidArgumentError(
          `image id prefix "${nameOrId}" is ambiguous: it matches ${[...ids].join(', ')}`,
        );
    }
    throw new NotFoundError(`image "${nameOrId}" not found in namespace ${ns}`);
  }

  /** The parsed OCI image config of a recorded image. */
  async config(record: ImageRecord): Promise<ImageConfig> {
    if (!record.configDigest)
      throw new FailedPreconditionError(`image ${record.name} has no config recorded; pull it again`);
    const body = await this.node.content.readAll(record.configDigest as Digest).catch((err: unknown) => {
      throw new FailedPreconditionError(
        `config ${record.configDigest} of image ${record.name} is missing from the content store; pull it again`,
        { cause: err },
      );
    });
    return JSON.parse(body.toString('utf8')) as ImageConfig;
  }

  /** Removes the record named (or identified) by `name`, then whatever nothing references any more. */
  async remove(name: string, namespace?: string): Promise<RemoveImageResult> {
    const ns = checkNamespace(namespace);
    const record = this.get(name, ns);
    return this.transitions.run<RemoveImageResult>({
      workflowType: 'removeImage',
      workflowId: `image-remove:${this.nodeId}:${ns}:${record.name}`,
      args: [{ namespace: ns, name: record.name }],
      onFinished: 'again',
      subject: { namespace: ns, image: record.name },
    });
  }

  /** Records the image `source` also under `target` (a normalized reference). */
  async tag(source: string, target: string, namespace?: string): Promise<ImageRecord> {
    const ns = checkNamespace(namespace);
    const src = this.get(source, ns);
    const name = formatReference(parseReference(target));
    return this.transitions.run<ImageRecord>({
      workflowType: 'tagImage',
      workflowId: `image-tag:${this.nodeId}:${ns}:${name}`,
      args: [{ namespace: ns, source: src.name, target: name }],
      onFinished: 'again',
      subject: { namespace: ns, image: name },
    });
  }

  /** Pushes a recorded image to `target` (default: its own name). Reads only: no transition. */
  async push(
    name: string,
    opts: { namespace?: string; target?: string; auth?: PullCredentials } = {},
  ): Promise<PushResult> {
    const record = this.get(name, opts.namespace);
    const ref = parseReference(opts.target ?? record.name);
    const access = registryAccess(this.node, ref, opts.auth);
    try {
      return await pushImage(access.client, this.node.content, ref, record.target.digest as Digest);
    } finally {
      await access.close();
    }
  }

  /** Imports an OCI image layout tar on this node; returns the records of the images it named. */
  async import(path: string, opts: { namespace?: string; name?: string } = {}): Promise<ImageRecord[]> {
    const namespace = checkNamespace(opts.namespace);
    if (!isAbsolute(path))
      throw new InvalidArgumentError(`import path "${path}" must be absolute (a file on the node)`);
    await access(path).catch(() => {
      throw new NotFoundError(`import archive ${path} does not exist on the node`);
    });
    const workflowId = `image-import:${this.nodeId}:${namespace}:${path}`;
    const args: ImportImageRequest = {
      path,
      namespace,
      progressSubject: progressSubject(this.node.config.nodeId, workflowId),
      ...(opts.name ? { name: opts.name } : {}),
    };
    const results = await this.transitions.run<PulledImageResult[]>({
      workflowType: 'importImage',
      workflowId,
      args: [args],
      onFinished: 'again',
      subject: { namespace, ...(opts.name ? { image: opts.name } : {}) },
    });
    return results.map((r) => this.recordOf(namespace, r.name));
  }

  /**
   * Writes a recorded image as an OCI image layout tar (or a docker-archive) at `output` on this
   * node. Reads only. An existing file is replaced only with `overwrite`; the archive is written
   * beside it and moved into place whole, so a failed export leaves no partial file at `output`.
   */
  async export(
    name: string,
    output: string,
    namespace?: string,
    format: 'oci' | 'docker-archive' = 'oci',
    opts: { overwrite?: boolean } = {},
  ): Promise<{ path: string; bytes: number }> {
    if (!isAbsolute(output))
      throw new InvalidArgumentError(`export path "${output}" must be absolute (a file on the node)`);
    const record = this.get(name, namespace);
    const exists = () => new AlreadyExistsError(`${output} exists: export with --force to replace it`);
    if (
      !opts.overwrite &&
      (await lstat(output).then(
        () => true,
        () => false,
      ))
    )
      throw exists();
    const partial = join(dirname(output), `.${basename(output)}.${randomBytes(4).toString('hex')}.partial`);
    try {
      const { bytes } =
        format === 'docker-archive'
          ? await writeDockerArchive(this.node.content, record, partial)
          : await writeOciArchive(this.node.content, record, partial);
      if (opts.overwrite) await rename(partial, output);
      else
        await link(partial, output).catch((err: NodeJS.ErrnoException) => {
          // Created meanwhile by someone else: theirs stays.
          throw err.code === 'EEXIST' ? exists() : err;
        });
      return { path: output, bytes };
    } finally {
      await rm(partial, { force: true });
    }
  }

  /**
   * Bytes and inodes of images and of containers' writable layers (the CRI's ImageFsInfo), from
   * memory unless content or snapshots changed since (image-fs-usage.ts). Image layers are measured
   * once; writable layers may be up to 10 s old (snapshot-usage.ts).
   */
  fsInfo(): Promise<ImageFsInfo> {
    return this.fsUsage.get();
  }

  private async measureFs(): Promise<ImageFsInfo> {
    const contentDir = join(this.node.layout.root, 'content');
    const content = await treeUsage(contentDir);
    const snapshots = await this.node.snapshotUsage.totals();
    const images = {
      path: contentDir,
      usedBytes: content.usedBytes + snapshots.committed.size,
      inodesUsed: content.inodesUsed + snapshots.committed.inodes,
    };
    const containers = {
      path: this.node.layout.snapshotsDir,
      usedBytes: snapshots.active.size,
      inodesUsed: snapshots.active.inodes,
    };
    return {
      images,
      containers,
      usedBytes: images.usedBytes + containers.usedBytes,
      inodesUsed: images.inodesUsed + containers.inodesUsed,
    };
  }

  async close(): Promise<void> {
    this.unsubscribeFsUsage();
    await this.fsUsage.settled();
    await this.node.snapshotUsage.settled();
    await progressBus(this.node).close();
  }

  private recordOf(namespace: string, name: string): ImageRecord {
    const rec = this.node.events.projections.get('images', namespace, name);
    if (!rec)
      throw new NotFoundError(`image ${name} was pulled but is not recorded in namespace ${namespace}`);
    return rec;
  }
}

export function checkNamespace(namespace: string | undefined): string {
  const ns = namespace ?? DEFAULT_NAMESPACE;
  if (!NAMESPACE.test(ns))
    throw new InvalidArgumentError(
      `namespace "${ns}" is not valid: use lowercase letters, digits, '.', '_' and '-' (e.g. default, k8s.io)`,
    );
  return ns;
}

/** Allocated bytes and inode count of a directory tree (hardlinks counted once). */
async function treeUsage(dir: string): Promise<{ usedBytes: number; inodesUsed: number }> {
  const seen = new Set<number>();
  let usedBytes = 0;
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path).catch(() => undefined);
    if (!st || seen.has(st.ino)) return;
    seen.add(st.ino);
    usedBytes += st.blocks * 512;
    if (!st.isDirectory()) return;
    for (const name of await readdir(path).catch(() => [] as string[])) await walk(join(path, name));
  };
  await walk(dir);
  return { usedBytes, inodesUsed: seen.size };
}
