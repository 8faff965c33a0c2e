/**
 * The isolated containerd's config.toml (schema v2 for Debian's 1.6, v3 for 2.x) and its CNI conflist: every
 * path it writes to lives under the harness's temporary directory, except what containerd hard-codes
 * (shim sockets under /run/containerd/s, libcni's cache under /var/lib/cni), which the harness cleans.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { resolveTool } from '../../src/daemon/tools.js';

/** The runc every side runs and its version, for a bench's header (so a run shows it was the same). */
export function sharedRuncLine(): string {
  const runc = resolveTool('runc') ?? '/usr/sbin/runc';
  const version = execFileSync(runc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  return `runc on every side: ${runc} (${version})`;
}

/**
 * Which containerd: Debian's 1.6 (/usr/bin), or 2.x built by setup into the tools cache (the
 * benchmarks' anchor; scripts/versions.sh names its version).
 */
export type ContainerdRelease = '1.6' | '2.x';

/** Paths and names one harness instance owns. */
export interface ContainerdLayout {
  release: ContainerdRelease;
  dir: string;
  root: string;
  state: string;
  socket: string;
  configPath: string;
  /** runc's state root for both `ctr run` (via --runc-root) and the CRI runtime. */
  runcRoot: string;
  /**
   * The runc binary both use: the one Berth's default handler runs, found the way berthd finds it
   * (the tools folder first: runc 1.5), not by the bench's own PATH, where Debian's 1.1 comes first.
   */
  runcBinary: string;
  fifoDir: string;
  cniConfDir: string;
  cniIpamDir: string;
  logPath: string;
  /** CNI network name; libcni's cache files start with it. */
  networkName: string;
  bridge: string;
  subnet: string;
  sandboxImage: string;
  /** The CRI plugin's registry.config_path (a hosts.toml per registry host), when mirrors are set. */
  registryConfigDir?: string;
}

export function layoutFor(
  dir: string,
  suffix: string,
  subnet: string,
  sandboxImage: string,
  release: ContainerdRelease = '1.6',
): ContainerdLayout {
  return {
    release,
    dir,
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'containerd.sock'),
    configPath: join(dir, 'config.toml'),
    runcRoot: join(dir, 'runc'),
    runcBinary: resolveTool('runc') ?? '/usr/sbin/runc',
    fifoDir: join(dir, 'fifo'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpamDir: join(dir, 'cni', 'ipam'),
    logPath: join(dir, 'containerd.log'),
    networkName: `berth-bench-${suffix}`,
    // Linux interface names are at most 15 bytes.
    bridge: `bbr${suffix}`.slice(0, 15),
    subnet,
    sandboxImage,
  };
}

const quote = (s: string): string => JSON.stringify(s);

/** containerd's config.toml for this layout, in the schema of its release. */
export function containerdConfig(l: ContainerdLayout): string {
  return l.release === '1.6' ? configV2(l) : configV3(l);
}

function configV2(l: ContainerdLayout): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
${commonTop(l)}
# Snapshotters this host cannot use only add start-up noise. (The v1 runtime must stay:
# containerd 1.6's tasks service does not load without it.)
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
${commonSockets(l)}
[${cri}]
  sandbox_image = ${quote(l.sandboxImage)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
${runtimeSettings}
[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  Root = ${quote(l.runcRoot)}
  BinaryName = ${quote(l.runcBinary)}

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = ${quote(l.cniConfDir)}
  max_conf_num = 1
${l.registryConfigDir ? `\n[${cri}.registry]\n  config_path = ${quote(l.registryConfigDir)}\n` : ''}`;
}

/** containerd 2.x: the CRI plugin is split into images, runtime and the gRPC server. */
function configV3(l: ContainerdLayout): string {
  const images = "plugins.'io.containerd.cri.v1.images'";
  const runtime = "plugins.'io.containerd.cri.v1.runtime'";
  return `version = 3
${commonTop(l)}
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.erofs",
]
${commonSockets(l)}
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${images}]
  snapshotter = "overlayfs"

[${images}.pinned_images]
  sandbox = ${quote(l.sandboxImage)}
${l.registryConfigDir ? `\n[${images}.registry]\n  config_path = ${quote(l.registryConfigDir)}\n` : ''}
[${runtime}]
${runtimeSettings}
[${runtime}.containerd]
  default_runtime_name = "runc"

[${runtime}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${runtime}.containerd.runtimes.runc.options]
  Root = ${quote(l.runcRoot)}
  BinaryName = ${quote(l.runcBinary)}

[${runtime}.cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = ${quote(l.cniConfDir)}
  max_conf_num = 1
`;
}

const commonTop = (l: ContainerdLayout): string => `root = ${quote(l.root)}
state = ${quote(l.state)}`;

const commonSockets = (l: ContainerdLayout): string => `
[grpc]
  address = ${quote(l.socket)}

[ttrpc]
  address = ${quote(`${l.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${quote(join(l.dir, 'opt'))}
`;

/** The CRI runtime settings both schemas share (the same keys, in different tables). */
const runtimeSettings = `  # Root lacks CAP_SYS_RESOURCE here: lowering oom_score_adj below containerd's own fails.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
`;

/**
 * hosts.toml for one upstream registry host: pulls and resolves go to `mirror` (a plain-HTTP
 * `http://host:port` is spoken as HTTP), then to the upstream.
 */
export function hostsToml(upstream: string, mirror: string): string {
  return `server = ${quote(`https://${upstream}`)}

[host.${quote(mirror)}]
  capabilities = ["pull", "resolve"]
`;
}

/**
 * The plugins of Berth's default network (bridge with masquerade and hairpin, host-local, portmap:
 * also containerd's own example conflist) on this layout's bridge and subnet, so both runtimes do
 * the same network work per pod. CNI DEL removes the rules they add.
 */
export function cniConflist(l: ContainerdLayout): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: l.networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: l.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: l.subnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: l.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    },
    null,
    2,
  );
}
