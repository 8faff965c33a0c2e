/**
 * Test support for network tests on the real host: a unique bridge, subnet and network name per
 * test file, a snapshot of everything a pod network can leak (iptables rules and chains, links,
 * host-local reservations, ip_forward), and restoring what the plugins change by design.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileCapture } from '../../src/common/exec.js';

export interface TestNet {
  name: string;
  bridge: string;
  /** x.y.z.0/24 */
  subnet: string;
  /** x.y.z.1 */
  gateway: string;
  /** x.y.z. */
  prefix: string;
}

/** A network name, bridge and /24 used by no route on this host. */
export async function uniqueNet(tag: string): Promise<TestNet> {
  const routes = await execFile('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (;;) {
    const b = randomBytes(3);
    const second = 100 + ((b[0] ?? 0) % 150);
    const third = b[1] ?? 0;
    const prefix = `10.${second}.${third}.`;
    if (routes.includes(`10.${second}.${third}.`)) continue;
    const id = (b[2] ?? 0).toString(16).padStart(2, '0') + randomBytes(2).toString('hex');
    return {
      name: `bt-${tag}-${id}`,
      bridge: `bt${id}`,
      subnet: `${prefix}0/24`,
      gateway: `${prefix}1`,
      prefix,
    };
  }
}

/** Chain names the bridge (ipMasq) and portmap plugins derive from a network name and container id. */
export function pluginChains(network: string, containerId: string): string[] {
  const hash = createHash('sha512')
    .update(network + containerId)
    .digest('hex');
  return [`CNI-${hash}`.slice(0, 28), `CNI-DN-${hash}`.slice(0, 28)];
}

async function iptablesLines(): Promise<string[]> {
  const out = await execFile('iptables-save', []);
  return out.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** Every iptables line belonging to this network: its rules (by name or subnet) and its sandboxes' chains. */
export async function iptablesFootprint(net: TestNet, containerIds: readonly string[]): Promise<string[]> {
  const chains = new Set(containerIds.flatMap((id) => pluginChains(net.name, id)));
  const lines = await iptablesLines();
  return lines
    .filter(
      (l) => l.includes(`"${net.name}"`) || l.includes(net.subnet) || [...chains].some((c) => l.includes(c)),
    )
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .sort();
}

/** host-local reservation files (one per leased IP), without its lock and last-reserved markers. */
export async function hostLocalLeases(dataDir: string, net: TestNet): Promise<string[]> {
  const files = await readdir(path.join(dataDir, net.name)).catch(() => [] as string[]);
  return files.filter((f) => f.startsWith(net.prefix)).sort();
}

/** Links enslaved to the test bridge (the host ends of sandbox veths). */
export async function bridgePorts(net: TestNet): Promise<string[]> {
  const r = await execFileCapture('ip', ['-o', 'link', 'show', 'master', net.bridge]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(':')[1]?.trim() ?? l)
    .sort();
}

/**
 * Host links, without veths (whose leaks show as bridge ports and pinned namespaces) and without
 * bridges: this test's own, and those of other tests, daemons and the containerd harness running
 * at the same time, which come and go under their own names (`bt`/`bb` + hex, `bbr*`, `berth*`).
 */
export async function stableLinks(): Promise<string[]> {
  const links = JSON.parse(await execFile('ip', ['-j', '-d', 'link', 'show'])) as {
    ifname: string;
    linkinfo?: { info_kind?: string };
  }[];
  return links
    .filter((l) => l.linkinfo?.info_kind !== 'bridge' && l.linkinfo?.info_kind !== 'veth')
    .map((l) => l.ifname)
    .sort();
}

/** What the plugins change on purpose and a test must put back. */
export interface HostBaseline {
  ipForward: string;
  /** This test file's entry in the registry of files using CNI right now. */
  marker: string;
}

/** Test files that use CNI at this moment register here; the last one out removes shared chains. */
const USERS_DIR = path.join(os.tmpdir(), 'berth-cni-test-users');
const IP_FORWARD_FILE = path.join(os.tmpdir(), 'berth-cni-test-ip_forward.orig');
const SHARED_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'];

export async function captureBaseline(): Promise<HostBaseline> {
  await mkdir(USERS_DIR, { recursive: true });
  const marker = path.join(USERS_DIR, `${process.pid}-${randomBytes(4).toString('hex')}`);
  const ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  // The host's value before any Berth network test ever ran, recorded once (exclusive create)
  // and kept: a value read later may already be a concurrent test's bridge turning it on.
  await writeFile(IP_FORWARD_FILE, ipForward, { flag: 'wx' }).catch(() => undefined);
  await writeFile(marker, '');
  return { ipForward, marker };
}

/** The lines of one table (`nat`, `filter`) of an iptables-save dump. */
function tableSection(lines: string[], table: string): string[] {
  const start = lines.indexOf(`*${table}`);
  if (start < 0) return [];
  const end = lines.indexOf('COMMIT', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** Other test files still using CNI (markers of live processes). */
async function otherUsers(own: string): Promise<string[]> {
  const names = await readdir(USERS_DIR).catch(() => [] as string[]);
  const live: string[] = [];
  for (const n of names) {
    const file = path.join(USERS_DIR, n);
    if (file === own) continue;
    const pid = Number(n.split('-')[0]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) live.push(n);
    else await rm(file, { force: true });
  }
  return live;
}

/**
 * Deletes the test bridge, restores ip_forward, and, when no other CNI test is running and no
 * hostPort mapping remains, removes portmap's shared CNI-HOSTPORT-* chains and their jumps
 * (portmap creates them on first use and never removes them).
 */
export async function restoreHost(net: TestNet, baseline: HostBaseline): Promise<void> {
  await removeNetworkRules(net.name);
  await execFileCapture('ip', ['link', 'del', net.bridge]);
  await rm(baseline.marker, { force: true });
  if ((await otherUsers(baseline.marker)).length > 0) return;
  const original = await readFile(IP_FORWARD_FILE, 'utf8').catch(() => baseline.ipForward);
  await writeFile('/proc/sys/net/ipv4/ip_forward', original.trim());
  const nat = tableSection(await iptablesLines(), 'nat');
  if (nat.some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT '))) return;
  for (const rule of nat.filter((l) => l.startsWith('-A '))) {
    if (SHARED_CHAINS.some((c) => rule.endsWith(`-j ${c}`))) {
      await execFileCapture('iptables', ['-t', 'nat', '-D', ...splitRule(rule.slice(3))]);
    }
  }
  for (const c of SHARED_CHAINS) {
    if (nat.some((l) => l.startsWith(`:${c} `))) await dropChain('nat', c);
  }
  // An emptied nat table itself stays: iptables-nft cannot delete a table and nft is not
  // installed here (machine-notes), so footprints ignore the built-in chains.
}

/**
 * Removes the rules the bridge and portmap plugins wrote for sandboxes on network `name` (their
 * comments name it) and the per-sandbox chains they jump to. A pod network is only taken down by
 * CNI DEL, which never runs for the pods of a berthd that was killed, or stopped with pods left
 * (the fleet tests do both); without this their masquerade rules stayed on the host after every
 * run. Tests that assert no leak compare footprints before this runs.
 */
export async function removeNetworkRules(name: string): Promise<void> {
  const dump = await iptablesLines();
  for (const table of ['nat', 'filter']) {
    const chains = new Set<string>();
    for (const rule of tableSection(dump, table)) {
      if (!rule.startsWith('-A ') || !rule.includes(`\\"${name}\\"`)) continue;
      const jump = / -j (CNI-[\w-]+)/.exec(rule)?.[1];
      if (jump && !SHARED_CHAINS.includes(jump)) chains.add(jump);
      await execFileCapture('iptables', ['-t', table, '-D', ...splitRule(rule.slice(3))]);
    }
    for (const chain of chains) await dropChain(table, chain);
  }
}

/** Empties and deletes a chain (nothing may jump to it any more). */
async function dropChain(table: string, chain: string): Promise<void> {
  await execFileCapture('iptables', ['-t', table, '-F', chain]);
  await execFileCapture('iptables', ['-t', table, '-X', chain]);
}

/** Splits an iptables-save rule into arguments, honouring double-quoted comments. */
function splitRule(rule: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m !== null; m = re.exec(rule)) {
    args.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? ''));
  }
  return args;
}

/** Writes a conflist for the test network into `confDir` with its own host-local data dir. */
export async function writeTestConflist(
  confDir: string,
  net: TestNet,
  dataDir: string,
  opts: {
    rangeStart?: string;
    rangeEnd?: string;
    extraPlugins?: Record<string, unknown>[];
    file?: string;
  } = {},
): Promise<string> {
  const range: Record<string, unknown> = { subnet: net.subnet };
  if (opts.rangeStart) range['rangeStart'] = opts.rangeStart;
  if (opts.rangeEnd) range['rangeEnd'] = opts.rangeEnd;
  const conflist = {
    cniVersion: '1.0.0',
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[range]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ...(opts.extraPlugins ?? []),
    ],
  };
  const file = path.join(confDir, opts.file ?? '50-test.conflist');
  await writeFile(file, JSON.stringify(conflist, null, 2));
  return file;
}
