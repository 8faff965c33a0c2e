/**
 * Network configuration lists: discovery in a conf dir the way libcni orders them (`.conf`,
 * `.conflist`, `.json`, lexical order, first valid wins), and Berth's default bridge + host-local
 * + portmap list, written into Berth's own conf dir when no other network exists.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';

/** One plugin entry of a conflist: `type` names the binary; the rest is the plugin's own config. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A parsed network configuration list and where it came from. */
export interface NetworkConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  /** The file it was read from, for error messages. */
  source: string;
}

/** Parameters of Berth's default network. */
export interface DefaultNetworkOptions {
  name?: string;
  bridge?: string;
  subnet?: string;
  /** host-local's reservation dir; host-local's own default (/var/lib/cni/networks) when absent. */
  ipamDataDir?: string;
}

export const DEFAULT_CONFLIST_FILE = '10-berth.conflist';
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Validates a parsed JSON document as a conflist (or a single `.conf`, wrapped into a list). */
export function parseConfList(doc: unknown, source: string): NetworkConfList {
  const fail = (why: string): never => {
    throw new FailedPreconditionError(`CNI network config ${source} is invalid: ${why}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail('not a JSON object');
  const o = doc as Record<string, unknown>;
  const name = o['name'];
  if (typeof name !== 'string' || name === '') return fail('missing "name"');
  const cniVersion = typeof o['cniVersion'] === 'string' ? o['cniVersion'] : '0.2.0';
  let plugins: unknown;
  if (o['plugins'] !== undefined) {
    plugins = o['plugins'];
  } else if (typeof o['type'] === 'string') {
    // A single-plugin `.conf`: it is its own one-element list.
    const single: Record<string, unknown> = { ...o };
    delete single['name'];
    delete single['cniVersion'];
    plugins = [single];
  } else {
    return fail('neither "plugins" nor "type"');
  }
  if (!Array.isArray(plugins) || plugins.length === 0) return fail('"plugins" must be a non-empty array');
  const checked = plugins.map((p: unknown, i): PluginConf => {
    if (typeof p !== 'object' || p === null) return fail(`plugins[${i}] is not an object`);
    const type = (p as Record<string, unknown>)['type'];
    // The type names a binary: never a path that could leave the plugin dirs.
    if (typeof type !== 'string' || !PLUGIN_TYPE.test(type))
      return fail(`plugins[${i}].type ${JSON.stringify(type)} is not a plugin name`);
    return p as PluginConf;
  });
  return { cniVersion, name, plugins: checked, source };
}

/** Reads and validates one conf file. */
export async function loadConfFile(file: string): Promise<NetworkConfList> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new FailedPreconditionError(`CNI network config ${file} cannot be read: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return parseConfList(doc, file);
}

/** Conf files in a dir, in libcni's order; empty when the dir does not exist. */
export async function confFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => ['.conf', '.conflist', '.json'].includes(path.extname(n)))
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * The first valid network in `dir`, or undefined when it holds none. Invalid files are passed
 * over (as kubelet's runtimes do) but reported through `onInvalid`.
 */
export async function findNetwork(
  dir: string,
  onInvalid?: (file: string, err: unknown) => void,
): Promise<NetworkConfList | undefined> {
  for (const file of await confFiles(dir)) {
    try {
      return await loadConfFile(file);
    } catch (err) {
      onInvalid?.(file, err);
    }
  }
  return undefined;
}

/** Berth's default network: bridge (gateway, masquerade, hairpin) + host-local, then portmap. */
export function defaultConfList(opts: DefaultNetworkOptions = {}): Omit<NetworkConfList, 'source'> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: opts.subnet ?? '10.89.0.0/16' }]],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  if (opts.ipamDataDir !== undefined) ipam['dataDir'] = opts.ipamDataDir;
  return {
    cniVersion: '1.0.0',
    name: opts.name ?? 'berth',
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge ?? 'berth0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam,
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** Writes the default conflist into `dir` (atomically) and returns it as loaded. */
export async function writeDefaultConfList(
  dir: string,
  opts: DefaultNetworkOptions = {},
): Promise<NetworkConfList> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, DEFAULT_CONFLIST_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(defaultConfList(opts), null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, file);
  return loadConfFile(file);
}
