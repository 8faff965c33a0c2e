/**
 * The per-sandbox files containers bind-mount: hostname, resolv.conf and hosts, written
 * atomically (temp file + rename) so a crash never leaves a half-written one behind.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DnsConfig } from './config.js';
import { validateDnsConfig, validateHostname } from './config.js';

/** What the files are rendered from. */
export interface SandboxFilesInput {
  hostname: string;
  /** Absent: the host's /etc/resolv.conf is copied, as containerd does. */
  dnsConfig?: DnsConfig;
  /** Host networking copies the host's /etc/hosts and uses its hostname. */
  hostNetwork: boolean;
  /** The sandbox's addresses, listed against its hostname in the hosts file. */
  ips?: string[];
}

/** Paths of a sandbox's files. */
export interface SandboxFilePaths {
  hostname: string;
  resolvConf: string;
  hosts: string;
}

/** Host files copied for host-network sandboxes or a missing DNS config; overridable for tests. */
export interface HostFiles {
  resolvConf: string;
  hosts: string;
}

const DEFAULT_HOST_FILES: HostFiles = { resolvConf: '/etc/resolv.conf', hosts: '/etc/hosts' };

/** Renders resolv.conf from a validated DNS config. */
export function renderResolvConf(dns: DnsConfig): string {
  validateDnsConfig(dns);
  const lines: string[] = [];
  if (dns.searches && dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers ?? []) lines.push(`nameserver ${s}`);
  if (dns.options && dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** Renders a pod's hosts file: loopback names, then the pod's own addresses. */
export function renderHosts(hostname: string, ips: readonly string[]): string {
  validateHostname(hostname);
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    ...ips.map((ip) => `${ip}\t${hostname}`),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}

/** Writes and removes the files of sandboxes under `<dir>/<id>/`. */
export class SandboxFiles {
  constructor(private readonly hostFiles: HostFiles = DEFAULT_HOST_FILES) {}

  paths(sandboxDir: string): SandboxFilePaths {
    return {
      hostname: path.join(sandboxDir, 'hostname'),
      resolvConf: path.join(sandboxDir, 'resolv.conf'),
      hosts: path.join(sandboxDir, 'hosts'),
    };
  }

  /** (Re)writes all three files; idempotent, and safe to call again once the IPs are known. */
  async write(sandboxDir: string, input: SandboxFilesInput): Promise<SandboxFilePaths> {
    const p = this.paths(sandboxDir);
    const hostname = input.hostNetwork ? os.hostname() : input.hostname;
    const resolv = input.dnsConfig
      ? renderResolvConf(input.dnsConfig)
      : await readFile(this.hostFiles.resolvConf, 'utf8').catch(() => '');
    const hosts = input.hostNetwork
      ? await readFile(this.hostFiles.hosts, 'utf8').catch(() => renderHosts(hostname, []))
      : renderHosts(hostname, input.ips ?? []);
    await mkdir(sandboxDir, { recursive: true });
    await writeAtomic(p.hostname, `${hostname}\n`);
    await writeAtomic(p.resolvConf, resolv);
    await writeAtomic(p.hosts, hosts);
    return p;
  }

  /** Removes the three files (not the directory, which may hold other state); idempotent. */
  async remove(sandboxDir: string): Promise<void> {
    const p = this.paths(sandboxDir);
    for (const f of [p.hostname, p.resolvConf, p.hosts]) await rm(f, { force: true });
  }
}
