/**
 * Image reference parsing and normalisation, following the distribution reference grammar
 * and Docker's normalisation (`busybox` → `docker.io/library/busybox:latest`).
 */
import { InvalidArgumentError } from '../common/errors.js';
import { parseDigest, type Digest } from '../content/digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_MAX = 255;

// A path component: lowercase alphanumerics separated by one '.', one or two '_', or any run of '-'.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HEX64 = /^[a-f0-9]{64}$/;

/** A parsed, normalised image reference. At least one of `tag` and `digest` is set. */
export interface ImageReference {
  /** The registry host, with port if any: `docker.io`, `localhost:5000`, `127.0.0.1:5000`. */
  readonly domain: string;
  /** The repository path inside the registry: `library/busybox`, `team/app`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

function invalid(input: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid image reference ${JSON.stringify(input)}: ${why}`);
}

function isDomainLike(first: string): boolean {
  // A registry host has a dot or a port, or is localhost. Unlike Docker, an upper-case
  // single label ("UPPER/case") is not taken for a host: it is a mistyped repository name.
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

function validateDomain(input: string, domain: string): void {
  let host = domain;
  const portMatch = /^(.*):([0-9]+)$/.exec(domain);
  if (portMatch) host = portMatch[1] ?? '';
  else if (domain.endsWith(':'))
    throw invalid(input, `registry host ${JSON.stringify(domain)} has an empty port`);
  if (IPV6_HOST.test(host)) return;
  if (host.length === 0 || !host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) {
    throw invalid(input, `${JSON.stringify(domain)} is not a valid registry host`);
  }
}

/**
 * Parses a reference as `docker pull` accepts it and normalises it: the default registry
 * is docker.io, single-component Docker Hub names get `library/`, and a reference with
 * neither tag nor digest gets `:latest`. Throws `InvalidArgumentError` naming the problem.
 */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, 'the reference is empty');
  if (/\s/.test(input)) throw invalid(input, 'references cannot contain whitespace');
  if (HEX64.test(input)) {
    throw invalid(input, 'a 64-character hex string is an image id, not a reference; use name@sha256:<hex>');
  }

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const rawDigest = rest.slice(at + 1);
    if (rawDigest.length === 0) throw invalid(input, 'empty digest after "@"');
    try {
      digest = parseDigest(rawDigest);
    } catch (err) {
      throw invalid(input, (err as Error).message);
    }
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (tag.length === 0) throw invalid(input, 'empty tag after ":"');
    if (!TAG.test(tag)) {
      throw invalid(input, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }
  }

  if (rest.length === 0) throw invalid(input, 'the repository name is empty');
  const slash = rest.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  if (slash >= 0 && isDomainLike(rest.slice(0, slash))) {
    domain = rest.slice(0, slash);
    path = rest.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  validateDomain(input, domain);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;

  if (path.length === 0) throw invalid(input, 'the repository path is empty');
  if (path.toLowerCase() !== path)
    throw invalid(input, `repository name ${JSON.stringify(path)} must be lowercase`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(
        input,
        component.length === 0
          ? 'empty path component (a doubled or trailing "/")'
          : `path component ${JSON.stringify(component)} must be lowercase letters and digits separated by ".", "_", "__" or "-"`,
      );
    }
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_MAX) {
    throw invalid(input, `the repository name is longer than ${NAME_TOTAL_MAX} characters`);
  }

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: { domain: string; path: string; tag?: string; digest?: Digest } = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `domain/path` without tag or digest: the image's name. */
export function referenceName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified string form: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${referenceName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The shortest form a user would type: `busybox:latest` for `docker.io/library/busybox:latest`. */
export function familiarReference(ref: ImageReference): string {
  let name = referenceName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** What the manifest endpoint is asked for: the digest when pinned (it wins over a tag), else the tag. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
