/**
 * Image routes. Names in paths are URL-encoded normalized references (or ids); `?namespace=`
 * picks the namespace (default "default").
 *   POST   /v1/images/pull          {ref, namespace?, platform?, auth?} → NDJSON: progress…, then {type:'result', image}
 *   GET    /v1/images               → ImageRecord[] (without ?namespace=: every namespace's)
 *   GET    /v1/images/:name         → {image, config}
 *   DELETE /v1/images/:name         → {removed, content, snapshots}
 *   POST   /v1/images/:name/tag     {target} → ImageRecord
 *   POST   /v1/images/push          {name, target?, namespace?, auth?} → PushResult
 *   GET    /v1/images-fs            → ImageFsInfo
 *   POST   /v1/images/import        {path, format?, name?, namespace?} → ImageRecord[] (a tar on this node)
 *   GET    /v1/images/:name/export  ?output=PATH&format=oci|docker-archive&overwrite=true → {path, bytes}
 */
import { BerthError, InvalidArgumentError, errorMessage } from '../../common/errors.js';
import type { ImageRecord } from '../../events/projections/state.js';
import { checkNamespace, type ImageService } from '../../daemon/images.js';
import { parseReference } from '../../registry/reference.js';
import type { PullProgress } from '../../images/progress.js';
import type { PullCredentials } from '../../images/session.js';
import type { ApiRequest, Route } from '../router.js';

export type PullStreamItem =
  PullProgress | { type: 'result'; image: ImageRecord } | { error: { code: string; message: string } };

export interface ImageRoutesSource {
  readonly images: ImageService;
}

function body(req: ApiRequest): Record<string, unknown> {
  const b = req.body;
  if (b !== undefined && (typeof b !== 'object' || b === null || Array.isArray(b)))
    throw new InvalidArgumentError('the request body must be a JSON object');
  return (b ?? {}) as Record<string, unknown>;
}

function optString(b: Record<string, unknown>, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`"${key}" must be a string`);
  return v;
}

function reqString(b: Record<string, unknown>, key: string): string {
  const v = optString(b, key);
  if (!v) throw new InvalidArgumentError(`"${key}" is required`);
  return v;
}

function auth(b: Record<string, unknown>): PullCredentials | undefined {
  const a = b.auth;
  if (a === undefined || a === null) return undefined;
  if (typeof a !== 'object') throw new InvalidArgumentError('"auth" must be an object');
  const o = a as Record<string, unknown>;
  const out: PullCredentials = {};
  for (const k of ['username', 'password', 'identityToken', 'registryToken'] as const) {
    const v = optString(o, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** A pull as a stream: progress messages as they come, then the result (or the error) last. */
async function* pullStream(source: ImageRoutesSource, req: ApiRequest): AsyncGenerator<PullStreamItem> {
  const b = body(req);
  const queue: PullStreamItem[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const push = (item: PullStreamItem): void => {
    queue.push(item);
    wake?.();
  };
  const ns = optString(b, 'namespace') ?? req.query.get('namespace') ?? undefined;
  const platform = optString(b, 'platform');
  const credentials = auth(b);
  const pulling = source.images
    .pull({
      ref: reqString(b, 'ref'),
      ...(ns ? { namespace: ns } : {}),
      ...(platform ? { platform } : {}),
      ...(credentials ? { auth: credentials } : {}),
      onProgress: (p) => {
        if (!finished) push(p);
      },
    })
    .then(
      (image) => push({ type: 'result', image }),
      (err: unknown) =>
        push({
          error: { code: err instanceof BerthError ? err.code : 'internal', message: errorMessage(err) },
        }),
    )
    .finally(() => {
      finished = true;
      wake?.();
    });
  while (true) {
    const item = queue.shift();
    if (item) {
      yield item;
      if (!('type' in item && item.type === 'progress')) break;
      continue;
    }
    if (finished && queue.length === 0) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  await pulling;
}

export function imageRoutes(source: ImageRoutesSource): Route[] {
  const ns = (req: ApiRequest): string | undefined => req.query.get('namespace') ?? undefined;
  return [
    {
      method: 'POST',
      path: '/v1/images/pull',
      handler: async (req) => {
        // Bad input is refused before the stream starts, so it gets a proper error status.
        const b = body(req);
        parseReference(reqString(b, 'ref'));
        checkNamespace(optString(b, 'namespace') ?? req.query.get('namespace') ?? undefined);
        return { stream: pullStream(source, req) };
      },
    },
    { method: 'GET', path: '/v1/images', handler: async (req) => source.images.list(ns(req)) },
    {
      method: 'GET',
      path: '/v1/images-fs',
      handler: () => source.images.fsInfo(),
    },
    {
      method: 'POST',
      path: '/v1/images/push',
      handler: async (req) => {
        const b = body(req);
        const target = optString(b, 'target');
        const namespace = optString(b, 'namespace') ?? ns(req);
        const credentials = auth(b);
        return source.images.push(reqString(b, 'name'), {
          ...(target ? { target } : {}),
          ...(namespace ? { namespace } : {}),
          ...(credentials ? { auth: credentials } : {}),
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/images/import',
      handler: async (req) => {
        const b = body(req);
        const name = optString(b, 'name');
        const namespace = optString(b, 'namespace') ?? ns(req);
        return source.images.import(reqString(b, 'path'), {
          ...(name ? { name } : {}),
          ...(namespace ? { namespace } : {}),
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/images/:name/export',
      handler: async (req) => {
        const output = req.query.get('output');
        if (!output) throw new InvalidArgumentError('export needs ?output=<absolute path on the node>');
        const format = req.query.get('format') ?? 'oci';
        if (format !== 'oci' && format !== 'docker-archive')
          throw new InvalidArgumentError(`export format "${format}" is not supported (oci, docker-archive)`);
        const overwrite = req.query.get('overwrite');
        if (overwrite !== null && overwrite !== 'true' && overwrite !== 'false')
          throw new InvalidArgumentError(`overwrite "${overwrite}" is not true or false`);
        return source.images.export(req.params.name as string, output, ns(req), format, {
          overwrite: overwrite === 'true',
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/images/:name',
      handler: async (req) => {
        const image = source.images.get(req.params.name as string, ns(req));
        return { image, config: await source.images.config(image).catch(() => undefined) };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/images/:name',
      handler: (req) => source.images.remove(req.params.name as string, ns(req)),
    },
    {
      method: 'POST',
      path: '/v1/images/:name/tag',
      handler: async (req) => {
        const b = body(req);
        return source.images.tag(
          req.params.name as string,
          reqString(b, 'target'),
          optString(b, 'namespace') ?? ns(req),
        );
      },
    },
  ];
}
