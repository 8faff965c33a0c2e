/** Test helpers: temporary roots and event builders. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppendRequest } from '../../../src/events/model.js';

export async function tempRoot(
  prefix = 'berth-events-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const apiCause = { kind: 'api', call: 'test' } as const;

export function containerCreate(
  id: string,
  ns = 'default',
  extra: Partial<AppendRequest> = {},
): AppendRequest {
  return {
    namespace: ns,
    topic: '/containers/create',
    data: { v: 1, id, image: 'busybox:latest' },
    cause: apiCause,
    ...extra,
  };
}

export function imageCreate(name: string, ns = 'default'): AppendRequest {
  return {
    namespace: ns,
    topic: '/images/create',
    data: {
      v: 2,
      name,
      target: {
        digest: `sha256:${'a'.repeat(64)}`,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 10,
      },
    },
    cause: apiCause,
  };
}
