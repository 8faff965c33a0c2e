/** findByRepoDigest: an image pulled by tag is found by repository@manifest-digest, and only so. */
import { describe, expect, it } from 'vitest';
import type { ImageRecord } from '../../src/events/projections/state.js';
import { findByRepoDigest } from '../../src/images/lookup.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

function record(name: string, digest: string): ImageRecord {
  return {
    namespace: 'k8s.io',
    name,
    target: { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    labels: {},
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    lastSeq: 1,
  };
}

const images = [
  record('gcr.io/k8s-staging-cri-tools/test-image-tag:all', A),
  record('docker.io/library/busybox:1.36', B),
];

describe('findByRepoDigest', () => {
  it('finds the tag record of the same repository and manifest digest', () => {
    expect(findByRepoDigest(images, `gcr.io/k8s-staging-cri-tools/test-image-tag@${A}`)?.name).toBe(
      'gcr.io/k8s-staging-cri-tools/test-image-tag:all',
    );
  });

  it('normalizes familiar names as pulls do', () => {
    expect(findByRepoDigest(images, `busybox@${B}`)?.name).toBe('docker.io/library/busybox:1.36');
  });

  it('finds nothing for another repository with the same digest, another digest, a tag or a bad reference', () => {
    expect(findByRepoDigest(images, `gcr.io/k8s-staging-cri-tools/other@${A}`)).toBeUndefined();
    expect(findByRepoDigest(images, `gcr.io/k8s-staging-cri-tools/test-image-tag@${B}`)).toBeUndefined();
    expect(findByRepoDigest(images, 'gcr.io/k8s-staging-cri-tools/test-image-tag:all')).toBeUndefined();
    expect(findByRepoDigest(images, 'Not A Reference@@')).toBeUndefined();
  });
});
