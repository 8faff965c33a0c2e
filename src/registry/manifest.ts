/** Manifest and index media types, validation, and platform selection. */
import { z } from 'zod';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { isDigest, type Digest } from '../content/digest.js';

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
];
/** What the client asks for, in order of preference. */
export const MANIFEST_ACCEPT = [...INDEX_MEDIA_TYPES, ...IMAGE_MANIFEST_MEDIA_TYPES].join(', ');
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociLayer,
  MediaTypes.ociLayerGzip,
  MediaTypes.ociLayerZstd,
  MediaTypes.dockerLayer,
  MediaTypes.dockerLayerGzip,
];
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaTypes.ociConfig, MediaTypes.dockerConfig];

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const PlatformSchema = z.object({ os: z.string(), architecture: z.string(), variant: z.string().optional() });
const DescriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: z.string().refine(isDigest, { message: 'not a sha256 digest' }),
  size: z.number().int().nonnegative(),
  platform: PlatformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  urls: z.array(z.string()).optional(),
});

/** A content descriptor: what a manifest says about a blob. */
export type Descriptor = z.infer<typeof DescriptorSchema> & { digest: Digest };

const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
});
const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
});

export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  mediaType: string;
  manifests: Descriptor[];
}

export type ParsedManifest =
  { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

/** The bare media type of a Content-Type header (parameters dropped). */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

/**
 * Parses a manifest or index body. The media type comes from the Content-Type, else from
 * the body's `mediaType` field; anything but OCI/Docker v2 manifests and indexes is refused.
 */
export function parseManifest(body: Buffer, contentType: string | undefined, source: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BerthError('failed_precondition', `manifest ${source} is not valid JSON`);
  }
  const header = bareMediaType(contentType);
  const fieldRaw = (json as { mediaType?: unknown } | null)?.mediaType;
  const field = typeof fieldRaw === 'string' ? fieldRaw : '';
  let mediaType = GENERIC_TYPES.has(header) ? field : header;
  if (mediaType === '') {
    // An OCI manifest may omit mediaType: recognise it by shape.
    mediaType =
      (json as { manifests?: unknown }).manifests !== undefined
        ? MediaTypes.ociIndex
        : MediaTypes.ociManifest;
  }
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    throw new BerthError(
      'failed_precondition',
      `manifest ${source} is Docker schema 1 (${mediaType}), which Berth does not support; push it again with schema 2`,
    );
  }
  if (!INDEX_MEDIA_TYPES.includes(mediaType) && !IMAGE_MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new BerthError(
      'failed_precondition',
      `manifest ${source} has unsupported media type ${JSON.stringify(mediaType)}; expected one of ${MANIFEST_ACCEPT}`,
    );
  }
  if (field !== '' && field !== mediaType) {
    throw new BerthError(
      'failed_precondition',
      `manifest ${source} claims media type ${field} in its body but was served as ${mediaType}`,
    );
  }
  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    const r = IndexSchema.safeParse(json);
    if (!r.success) throw invalidShape(source, r.error);
    return { kind: 'index', index: { mediaType, manifests: r.data.manifests as Descriptor[] } };
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) throw invalidShape(source, r.error);
  return {
    kind: 'manifest',
    manifest: { mediaType, config: r.data.config as Descriptor, layers: r.data.layers as Descriptor[] },
  };
}

function invalidShape(source: string, error: z.ZodError): BerthError {
  const issue = error.issues[0];
  return new BerthError(
    'failed_precondition',
    `manifest ${source} is malformed at ${issue?.path.join('.') || 'top level'}: ${issue?.message ?? ''}`,
  );
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The platform of this node, in OCI terms. */
export function nodePlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as { arm_version?: string }).arm_version;
    p.variant = `v${v ?? '7'}`;
  }
  return p;
}

/** Parses `os/arch[/variant]`. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new InvalidArgumentError(`invalid platform ${JSON.stringify(value)}: expected os/arch[/variant]`);
  }
  const p: Platform = { os: parts[0] as string, architecture: parts[1] as string };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function normalise(p: Platform): Platform {
  const out: Platform = { os: p.os.toLowerCase(), architecture: p.architecture.toLowerCase() };
  const variant =
    p.variant ?? (out.architecture === 'arm64' ? 'v8' : out.architecture === 'arm' ? 'v7' : undefined);
  if (variant !== undefined) out.variant = variant;
  return out;
}

/**
 * Picks the manifest for `want` from an index: same os and architecture, and the same
 * variant (arm64 without one counts as v8, arm as v7). Entries without a platform are skipped.
 */
export function selectPlatform(index: ImageIndex, want: Platform, source: string): Descriptor {
  const w = normalise(want);
  const images = index.manifests.filter(
    (d) => IMAGE_MANIFEST_MEDIA_TYPES.includes(d.mediaType) && d.platform,
  );
  const match = images.find((d) => {
    const p = normalise(d.platform as Platform);
    return (
      p.os === w.os &&
      p.architecture === w.architecture &&
      (w.variant === undefined || p.variant === w.variant)
    );
  });
  if (!match) {
    const available = images.map((d) => formatPlatform(d.platform as Platform)).join(', ') || 'none';
    throw new BerthError(
      'not_found',
      `${source} has no image for platform ${formatPlatform(want)} (available: ${available})`,
    );
  }
  return match;
}
