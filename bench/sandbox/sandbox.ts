/**
 * Sandbox create and remove latency on the real host (pinned namespaces, pod cgroup, files,
 * CNI bridge + host-local + portmap + loopback), median of 30, with a per-step breakdown.
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/sandbox/sandbox.js [runs]
 * Uses its own temp root, bridge, subnet and cgroup root, and removes them at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileCapture } from '../../src/common/exec.js';
import { CniNetwork } from '../../src/network/cni.js';
import { PodCgroups } from '../../src/sandbox/cgroups.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { mountsUnder } from '../../src/sandbox/mounts.js';

const runs = Number(process.argv[2] ?? 30);

function stats(xs: number[]): { median: number; p90: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9), min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-sb-'));
  const tag = randomBytes(3).toString('hex');
  const bridge = `bb${tag}`;
  const subnet = `10.${200 + (parseInt(tag.slice(0, 2), 16) % 50)}.${parseInt(tag.slice(2, 4), 16)}.0/24`;
  const confDir = path.join(root, 'net.d');
  await mkdir(confDir);
  const conflist = {
    cniVersion: '1.0.0',
    name: `bench-${tag}`,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: path.join(root, 'ipam'),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
  await writeFile(path.join(confDir, '10-bench.conflist'), JSON.stringify(conflist));
  const ipForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  const cgroups = await PodCgroups.detect(`berth-bench-${tag}`);
  const manager = new SandboxManager({
    stateDir: path.join(root, 'state'),
    cgroups,
    network: new CniNetwork({
      confDir,
      berthConfDir: path.join(root, 'own'),
      cacheDir: path.join(root, 'state', 'cni'),
    }),
  });

  const steps: Record<string, number[]> = {};
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    (steps[name] ??= []).push(performance.now() - t);
    return r;
  };
  try {
    // Warm-up: creates the bridge and the ns mount point, which later runs reuse.
    await manager.create({ metadata: { name: 'warm', uid: 'warm', namespace: 'bench', attempt: 0 } }, 'warm');
    await manager.remove('warm');
    for (let i = 0; i < runs; i++) {
      const id = `bench-${i}`;
      const cfg = { metadata: { name: id, uid: id, namespace: 'bench', attempt: 0 }, hostname: id };
      await time('create (total)', async () => {
        await time('  register', () => manager.register(id, cfg));
        await time('  pin namespaces', () => manager.pinNamespaces(id));
        await time('  pod cgroup', () => manager.createCgroup(id));
        await time('  files', () => manager.writeFiles(id));
        await time('  CNI ADD', () => manager.attachNetwork(id));
      });
      await time('stop+remove (total)', async () => {
        await time('  CNI DEL', () => manager.stop(id));
        await time('  remove rest', () => manager.remove(id));
      });
    }
  } finally {
    for (const m of await mountsUnder(root)) await execFileCapture('umount', [m.mountPoint]);
    for (const dir of cgroups.dirs('x').values()) await execFileCapture('rmdir', [path.dirname(dir)]);
    await execFileCapture('ip', ['link', 'del', bridge]);
    await writeFile('/proc/sys/net/ipv4/ip_forward', ipForward);
    await rm(root, { recursive: true, force: true });
  }

  const load = os.loadavg()[0]?.toFixed(2);
  console.log(`sandbox lifecycle, ${runs} runs (ms), load average ${load} on ${os.cpus().length} cores`);
  console.log(
    `${'step'.padEnd(22)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`,
  );
  for (const [name, xs] of Object.entries(steps)) {
    const s = stats(xs);
    const f = (n: number): string => n.toFixed(1).padStart(9);
    console.log(`${name.padEnd(22)}${f(s.median)}${f(s.p90)}${f(s.min)}${f(s.max)}`);
  }
}

await main();
