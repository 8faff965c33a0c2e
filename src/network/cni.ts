/**
 * CNI for sandboxes: ADD, DEL and CHECK of one network (the first conflist found, or Berth's
 * default) plus loopback on `lo`, with kubelet's CNI_ARGS, capability args for hostPort, and
 * an on-disk cache so DEL repeats exactly what ADD did.
 */
import { statfs } from 'node:fs/promises';
import { isIP } from 'node:net';
import { errorMessage, FailedPreconditionError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { AttachmentCache, type CachedAttachment } from './cache.js';
import {
  findNetwork,
  writeDefaultConfList,
  type DefaultNetworkOptions,
  type NetworkConfList,
  type PluginConf,
} from './conflist.js';
import { CniPluginError } from './errors.js';
import { invokePlugin, type CniCommand } from './plugin.js';
import type {
  AttachedIp,
  AttachmentRequest,
  AttachmentResult,
  CniResult,
  PodIdentity,
  PortMapping,
} from './types.js';

export interface CniOptions {
  /** Where operators put networks; `/etc/cni/net.d` by default (`--cni-conf-dir`). */
  confDir?: string;
  /** Berth's own conf dir, where the default network is written when no other exists. */
  berthConfDir: string;
  /** Plugin directories, searched in order; `/usr/lib/cni` by default (`--cni-bin-dir`). */
  binDirs?: string[];
  /** Attachment cache directory (under Berth's state or root dir). */
  cacheDir: string;
  defaultNetwork?: DefaultNetworkOptions;
  timeoutMs?: number;
  logger?: Logger;
}

const NSFS_MAGIC = 0x6e736673;
const LOOPBACK_IF = 'lo';

/** Kubelet's CNI_ARGS, in the order kubelet's runtimes send them. */
export function kubeletCniArgs(containerId: string, pod: PodIdentity): string {
  return [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${pod.namespace}`,
    `K8S_POD_NAME=${pod.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
    `K8S_POD_UID=${pod.uid}`,
  ].join(';');
}

function versionAtLeast(version: string, min: [number, number]): boolean {
  const [maj = 0, minor = 0] = version.split('.').map(Number);
  return maj > min[0] || (maj === min[0] && minor >= min[1]);
}

/** Builds one plugin's stdin config: list name and version, prevResult, declared capabilities. */
export function pluginConfig(
  list: Pick<NetworkConfList, 'name' | 'cniVersion'>,
  plugin: PluginConf,
  prevResult: CniResult | undefined,
  capabilityArgs: Record<string, unknown>,
): Record<string, unknown> & PluginConf {
  const conf: Record<string, unknown> & PluginConf = {
    ...plugin,
    name: list.name,
    cniVersion: list.cniVersion,
  };
  if (prevResult !== undefined && versionAtLeast(list.cniVersion, [0, 3])) conf['prevResult'] = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
  return conf;
}

/** The IPs of a CNI result, with bare addresses and families. */
export function resultIps(result: CniResult): AttachedIp[] {
  return (result.ips ?? []).map((e) => {
    const ip = e.address.split('/')[0] ?? e.address;
    return {
      address: e.address,
      ip,
      family: isIP(ip) === 6 ? 6 : 4,
      ...(e.gateway ? { gateway: e.gateway } : {}),
    };
  });
}

/**
 * The node's pod network. `add` is idempotent (an attachment already added returns its cached
 * result; one interrupted mid-ADD is deleted and added again); `del` succeeds for attachments that
 * were never added or are already deleted; a failed `add` is compensated by `del`.
 */
export class CniNetwork {
  readonly confDir: string;
  readonly binDirs: string[];
  readonly cache: AttachmentCache;
  private loaded: Promise<NetworkConfList> | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly log: Logger;

  constructor(private readonly opts: CniOptions) {
    this.confDir = opts.confDir ?? '/etc/cni/net.d';
    this.binDirs = opts.binDirs ?? ['/usr/lib/cni'];
    this.cache = new AttachmentCache(opts.cacheDir);
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'cni' });
  }

  /** The network new attachments use: conf dir first, then Berth's dir, else Berth's default written there. */
  network(): Promise<NetworkConfList> {
    this.loaded ??= this.loadNetwork().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  /** Forgets the loaded network so the next ADD reads the conf dirs again. */
  reload(): void {
    this.loaded = undefined;
  }

  private async loadNetwork(): Promise<NetworkConfList> {
    const onInvalid = (file: string, err: unknown): void =>
      this.log.warn({ file, err: errorMessage(err) }, 'skipping invalid CNI config');
    const found =
      (await findNetwork(this.confDir, onInvalid)) ?? (await findNetwork(this.opts.berthConfDir, onInvalid));
    if (found) return found;
    this.log.info({ dir: this.opts.berthConfDir }, 'no CNI network configured; writing Berth default');
    return writeDefaultConfList(this.opts.berthConfDir, this.opts.defaultNetwork);
  }

  /** Attaches the sandbox's namespace: the network's plugins in order, loopback on `lo` alongside. */
  add(req: AttachmentRequest): Promise<AttachmentResult> {
    return this.serialized(req.containerId, () => this.addLocked(req));
  }

  /** Detaches (plugins in reverse order, loopback alongside) and forgets the attachment. */
  del(containerId: string, ifName = 'eth0'): Promise<void> {
    return this.serialized(containerId, () => this.delLocked(containerId, ifName));
  }

  /** Runs CHECK through the plugins with the cached result; resolves to the attachment when healthy. */
  check(containerId: string, ifName = 'eth0'): Promise<AttachmentResult> {
    return this.serialized(containerId, () => this.checkLocked(containerId, ifName));
  }

  /** The cached attachment of a sandbox, or undefined when it has none (or ADD has not finished). */
  async attachment(containerId: string, ifName = 'eth0'): Promise<AttachmentResult | undefined> {
    const entry = await this.cache.read(containerId, ifName);
    if (!entry?.result) return undefined;
    return { networkName: entry.network.name, ifName, ips: resultIps(entry.result), raw: entry.result };
  }

  private async addLocked(req: AttachmentRequest): Promise<AttachmentResult> {
    const ifName = req.ifName ?? 'eth0';
    const existing = await this.cache.read(req.containerId, ifName);
    if (existing?.result) {
      return {
        networkName: existing.network.name,
        ifName,
        ips: resultIps(existing.result),
        raw: existing.result,
      };
    }
    if (existing) await this.delLocked(req.containerId, ifName);

    const network = await this.network();
    const entry: CachedAttachment = {
      kind: 'berth.cni.attachment/v1',
      containerId: req.containerId,
      ifName,
      netns: req.netnsPath,
      cniArgs: kubeletCniArgs(req.containerId, req.pod),
      capabilityArgs: portMappingCapability(req.portMappings ?? []),
      network: {
        cniVersion: network.cniVersion,
        name: network.name,
        plugins: network.plugins,
        source: network.source,
      },
      result: null,
    };
    // Recorded before any plugin runs: whatever happens next, DEL knows what to undo.
    await this.cache.write(entry);
    // How many plugins may have changed something, so compensation undoes exactly those.
    let touched = 0;
    try {
      const chain = async (): Promise<CniResult | undefined> => {
        let result: CniResult | undefined;
        for (const plugin of network.plugins) {
          touched++;
          result = await this.run('ADD', entry, plugin, result);
        }
        return result;
      };
      // lo and the pod interface are independent: bring them up concurrently, but let both
      // settle before any compensation so DEL never races a running ADD.
      const [lo, main] = await Promise.allSettled([this.runLoopback('ADD', entry), chain()]);
      if (main.status === 'rejected') throw main.reason;
      if (lo.status === 'rejected') throw lo.reason;
      const prev = main.value;
      if (prev === undefined) {
        const last = network.plugins.at(-1)?.type ?? '?';
        throw new CniPluginError(last, 'ADD', network.name, 'the plugin chain returned no result');
      }
      entry.result = prev;
      await this.cache.write(entry);
      const ips = resultIps(prev);
      this.log.debug({ containerId: req.containerId, ips }, 'CNI ADD done');
      return { networkName: network.name, ifName, ips, raw: prev };
    } catch (err) {
      if (err instanceof CniPluginError && err.missingBinary) touched--;
      try {
        await this.delLocked(req.containerId, ifName, touched);
      } catch (delErr) {
        this.log.error(
          { containerId: req.containerId, err: errorMessage(delErr) },
          'CNI DEL after a failed ADD failed; the cache keeps it for a retry',
        );
      }
      throw err;
    }
  }

  /**
   * Runs DEL through the first `pluginCount` plugins (all by default) in reverse order, and
   * loopback alongside. Each plugin gets its DEL even if a later one failed, so each frees what it can;
   * the first failure is then thrown and the cache kept, so a retry repeats the whole DEL.
   */
  private async delLocked(containerId: string, ifName: string, pluginCount?: number): Promise<void> {
    const entry = await this.cache.read(containerId, ifName);
    // Nothing to undo; a first write a crash cut short can still have left the sandbox's dir
    // with a temp file in it, which only remove() clears.
    if (!entry) return this.cache.remove(containerId, ifName);
    const live = { ...entry, netns: await liveNetns(entry.netns) };
    const prev = versionAtLeast(entry.network.cniVersion, [0, 4]) ? (entry.result ?? undefined) : undefined;
    const count = pluginCount ?? entry.network.plugins.length;
    let firstError: unknown;
    const chain = async (): Promise<void> => {
      for (const plugin of entry.network.plugins.slice(0, count).reverse()) {
        await this.run('DEL', live, plugin, prev).catch((err: unknown) => {
          firstError ??= err;
        });
      }
    };
    const loopback = this.runLoopback('DEL', live).catch((err: unknown) => {
      firstError ??= err;
    });
    await Promise.all([chain(), loopback]);
    if (firstError !== undefined) throw firstError;
    await this.cache.remove(containerId, ifName);
  }

  private async checkLocked(containerId: string, ifName: string): Promise<AttachmentResult> {
    const entry = await this.cache.read(containerId, ifName);
    if (!entry?.result) {
      throw new FailedPreconditionError(
        `sandbox ${containerId} has no network attachment on ${ifName} to check`,
      );
    }
    if (!versionAtLeast(entry.network.cniVersion, [0, 4])) {
      throw new FailedPreconditionError(
        `CHECK needs cniVersion 0.4.0 or later; network "${entry.network.name}" uses ${entry.network.cniVersion}`,
      );
    }
    const hasIpv6 = resultIps(entry.result).some((ip) => ip.family === 6);
    for (const plugin of entry.network.plugins) {
      try {
        await this.run('CHECK', entry, plugin, entry.result);
      } catch (err) {
        // portmap 1.1.x checks ip6tables rules even for IPv4-only pods and always fails there
        // (containernetworking/plugins#819); its IPv4 check ran first and passed.
        const bogusV6 =
          plugin.type === 'portmap' && !hasIpv6 && /could not check ipv6 dnat/.test(errorMessage(err));
        if (!bogusV6) throw err;
      }
    }
    return { networkName: entry.network.name, ifName, ips: resultIps(entry.result), raw: entry.result };
  }

  private run(
    command: CniCommand,
    entry: CachedAttachment,
    plugin: PluginConf,
    prev: CniResult | undefined,
  ): Promise<CniResult | undefined> {
    const conf = pluginConfig(entry.network, plugin, prev, entry.capabilityArgs);
    return invokePlugin(conf, {
      command,
      containerId: entry.containerId,
      netns: entry.netns,
      ifName: entry.ifName,
      cniArgs: entry.cniArgs,
      binDirs: this.binDirs,
      networkName: entry.network.name,
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
    });
  }

  private async runLoopback(command: 'ADD' | 'DEL', entry: CachedAttachment): Promise<void> {
    const conf = { cniVersion: entry.network.cniVersion, name: 'cni-loopback', type: 'loopback' };
    await invokePlugin(conf, {
      command,
      containerId: entry.containerId,
      netns: entry.netns,
      ifName: LOOPBACK_IF,
      cniArgs: entry.cniArgs,
      binDirs: this.binDirs,
      networkName: conf.name,
    });
  }

  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prior = this.locks.get(key) ?? Promise.resolve();
    const next = prior.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }
}

/** hostPort mappings in the shape the portmap plugin reads (`hostIP`, lower-case protocol). */
export function portMappingCapability(mappings: readonly PortMapping[]): Record<string, unknown> {
  const published = mappings.filter((p) => (p.hostPort ?? 0) > 0);
  if (published.length === 0) return {};
  return {
    portMappings: published.map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: p.protocol.toLowerCase(),
      ...(p.hostIp ? { hostIP: p.hostIp } : {}),
    })),
  };
}

/** The netns path when it still holds a namespace, else '' (CNI allows an empty CNI_NETNS on DEL). */
async function liveNetns(netns: string): Promise<string> {
  if (netns === '') return '';
  try {
    const st = await statfs(netns);
    return Number(st.type) === NSFS_MAGIC ? netns : '';
  } catch {
    return '';
  }
}
