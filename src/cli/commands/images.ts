/** `berth images`, `berth rmi`, `berth image inspect|tag|push`: image records through berthd. */
import { resolve } from 'node:path';
import { InvalidArgumentError } from '../../common/errors.js';
import type { ImageRecord } from '../../events/projections/state.js';
import type { Command, CommandContext } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { NAMESPACE_FLAGS, NAMESPACE_USAGE, listingNamespace, namespacedTable } from '../namespaces.js';
import { formatBytes } from './pull.js';

const path = (name: string, suffix = '') => `/v1/images/${encodeURIComponent(name)}${suffix}`;
const nsQuery = (ns: string | undefined) => (ns ? `?namespace=${encodeURIComponent(ns)}` : '');

function imageId(r: ImageRecord): string {
  return (r.configDigest ?? r.target.digest).replace(/^sha256:/, '').slice(0, 12);
}

export const imagesCommand: Command = {
  name: 'images',
  summary: 'List the images of a namespace (-A: of every namespace)',
  usage: 'berth images [--namespace NS | --all-namespaces] [--json]' + NAMESPACE_USAGE,
  async run(argv, ctx) {
    const { values } = parseCommandArgs('images', argv, NAMESPACE_FLAGS);
    const namespace = listingNamespace('images', values);
    const list = await ctx.client.get<ImageRecord[]>('/v1/images', { namespace });
    if (values.json) {
      ctx.out(JSON.stringify(list, null, 2));
      return 0;
    }
    ctx.out(
      namespacedTable(
        namespace === undefined,
        ['NAME', 'IMAGE ID', 'DIGEST', 'SIZE', 'CREATED'],
        list,
        (r) => [
          r.name,
          imageId(r),
          r.target.digest.slice(0, 19),
          r.size === undefined ? '' : formatBytes(r.size),
          r.createdAt,
        ],
      ),
    );
    return 0;
  },
};

export const rmiCommand: Command = {
  name: 'rmi',
  summary: 'Remove images (and the content and snapshots nothing else uses)',
  usage: 'berth rmi [--namespace NS] NAME|ID... [--json]',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs(
      'rmi',
      argv,
      { namespace: { type: 'string', short: 'n' } },
      true,
    );
    if (positionals.length === 0) throw new InvalidArgumentError('berth rmi: name at least one image');
    const results = [];
    for (const name of positionals) {
      const r = await ctx.client.delete<{ removed: boolean; content: string[]; snapshots: string[] }>(
        path(name) + nsQuery(values.namespace),
      );
      results.push({ name, ...r });
      if (!values.json)
        ctx.out(`removed ${name} (${r.content.length} blobs, ${r.snapshots.length} snapshots freed)`);
    }
    if (values.json) ctx.out(JSON.stringify(results, null, 2));
    return 0;
  },
};

async function inspect(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image inspect',
    argv,
    { namespace: { type: 'string', short: 'n' } },
    true,
  );
  if (positionals.length !== 1) throw new InvalidArgumentError('berth image inspect: name one image');
  const r = await ctx.client.get<unknown>(path(positionals[0] as string) + nsQuery(values.namespace));
  // Inspect is for reading either way: JSON is its one format.
  ctx.out(JSON.stringify(r, null, 2));
  return 0;
}

async function tag(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image tag',
    argv,
    { namespace: { type: 'string', short: 'n' } },
    true,
  );
  if (positionals.length !== 2) throw new InvalidArgumentError('berth image tag: give SOURCE and TARGET');
  const r = await ctx.client.post<ImageRecord>(path(positionals[0] as string, '/tag'), {
    target: positionals[1],
    ...(values.namespace ? { namespace: values.namespace } : {}),
  });
  ctx.out(values.json ? JSON.stringify(r, null, 2) : `${r.name} → ${r.target.digest}`);
  return 0;
}

async function push(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image push',
    argv,
    {
      namespace: { type: 'string', short: 'n' },
      user: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
    },
    true,
  );
  if (positionals.length < 1 || positionals.length > 2)
    throw new InvalidArgumentError('berth image push: give NAME [TARGET]');
  const r = await ctx.client.post<{ digest: string; uploaded: string[]; skipped: string[] }>(
    '/v1/images/push',
    {
      name: positionals[0],
      ...(positionals[1] ? { target: positionals[1] } : {}),
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(values.user !== undefined
        ? { auth: { username: values.user, password: values.password ?? '' } }
        : {}),
    },
  );
  ctx.out(
    values.json
      ? JSON.stringify(r, null, 2)
      : `pushed ${r.digest} (${r.uploaded.length} blobs uploaded, ${r.skipped.length} already there)`,
  );
  return 0;
}

async function importArchive(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image import',
    argv,
    { namespace: { type: 'string', short: 'n' }, name: { type: 'string' } },
    true,
  );
  if (positionals.length !== 1) throw new InvalidArgumentError('berth image import: give one archive file');
  const records = await ctx.client.post<ImageRecord[]>('/v1/images/import', {
    // berthd reads the file itself: it runs on this node.
    path: resolve(positionals[0] as string),
    ...(values.name ? { name: values.name } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
  });
  if (values.json) ctx.out(JSON.stringify(records, null, 2));
  else for (const r of records) ctx.out(`imported ${r.name} (${r.target.digest})`);
  return 0;
}

async function exportArchive(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image export',
    argv,
    { namespace: { type: 'string', short: 'n' }, format: { type: 'string' }, force: { type: 'boolean' } },
    true,
  );
  if (positionals.length !== 2)
    throw new InvalidArgumentError('berth image export: give NAME and an output FILE');
  const query = new URLSearchParams({
    output: resolve(positionals[1] as string),
    format: values.format ?? 'oci',
  });
  if (values.force) query.set('overwrite', 'true');
  if (values.namespace) query.set('namespace', values.namespace);
  const r = await ctx.client.get<{ path: string; bytes: number }>(
    `${path(positionals[0] as string, '/export')}?${query}`,
  );
  ctx.out(
    values.json
      ? JSON.stringify(r, null, 2)
      : `exported ${positionals[0]} to ${r.path} (${formatBytes(r.bytes)} of blobs)`,
  );
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[], ctx: CommandContext) => Promise<number>> = {
  inspect,
  tag,
  push,
  import: importArchive,
  export: exportArchive,
};

export const imageCommand: Command = {
  name: 'image',
  summary: 'Image subcommands: inspect, tag, push, import, export (OCI image layout tar)',
  usage:
    'berth image inspect NAME | tag SOURCE TARGET | push NAME [TARGET] | import [--name REF] FILE (OCI layout or docker-archive) | export [--format oci|docker-archive] [--force] NAME FILE  [--namespace NS] [--json]',
  async run(argv, ctx) {
    const [sub, ...rest] = argv;
    const fn = sub ? SUBCOMMANDS[sub] : undefined;
    if (!fn)
      throw new InvalidArgumentError(
        `berth image: unknown subcommand ${JSON.stringify(sub ?? '')} (one of ${Object.keys(SUBCOMMANDS).join(', ')})`,
      );
    return fn(rest, ctx);
  },
};

export const imageCommands: Command[] = [imagesCommand, rmiCommand, imageCommand];
