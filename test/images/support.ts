/** Shared setup of the image tests: a real registry, a registry config for berthd, image builders. */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../../src/api/client.js';
import type { PullStreamItem } from '../../src/api/routes/images.js';
import type { ImageRecord } from '../../src/events/projections/state.js';
import type { PullProgress } from '../../src/images/progress.js';

/**
 * Writes a registry config that speaks plain HTTP to `hosts` (and has `otherHosts`' settings,
 * mirrors for instance); returns berthd's flag for it.
 */
export async function registryConfigArgs(
  dir: string,
  hosts: string[],
  extra: Record<string, unknown> = {},
  otherHosts: Record<string, Record<string, unknown>> = {},
) {
  const file = path.join(dir, 'registries.json');
  await writeFile(
    file,
    JSON.stringify({
      hosts: { ...otherHosts, ...Object.fromEntries(hosts.map((h) => [h, { plainHttp: true }])) },
      ...extra,
    }),
  );
  return ['--registry-config', file];
}

export interface PullOutcome {
  image?: ImageRecord;
  error?: { code: string; message: string };
  progress: PullProgress[];
}

/** Pulls through the API, collecting the progress stream; an error is returned, not thrown. */
export async function pullViaApi(
  client: ApiClient,
  ref: string,
  opts: { namespace?: string } = {},
): Promise<PullOutcome> {
  const out: PullOutcome = { progress: [] };
  try {
    for await (const item of client.postStream<PullStreamItem>('/v1/images/pull', { ref, ...opts })) {
      if ('type' in item && item.type === 'progress') out.progress.push(item);
      else if ('type' in item && item.type === 'result') out.image = item.image;
    }
  } catch (err) {
    const e = err as { code?: string; message: string };
    out.error = { code: e.code ?? 'internal', message: e.message };
  }
  return out;
}

/** Every file under `dir` (relative paths), for "the store is unchanged" checks. */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}
