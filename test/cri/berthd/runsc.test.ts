/**
 * gVisor through the CRI: a pod whose RuntimeClass handler is `runsc` (Debian's runsc) runs its
 * container under gVisor's kernel (`dmesg` inside prints gVisor's boot lines, where runc shows
 * the host's or nothing), exec reaches it, its network is the pod's namespace, and stop and
 * removal leave no runsc state behind. If
 * runsc cannot run on this machine, CreateContainer must say so with runsc's own reason; the
 * test then fails naming it (gVisor is part of what Berth offers).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFileCapture } from '../../../src/common/exec.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { StatusResponse__Output } from '../../../src/cri/generated/runtime/v1/StatusResponse.js';
import { rpc } from '../harness.js';
import { criPodSuite } from './pod-suite.js';

const suite = criPodSuite(
  { name: 'gvisor', namespace: 'gvisor', uid: 'uid-gvisor', attempt: 0 },
  { runtimeHandler: 'runsc' },
);

/** Interface names of a /proc/net/dev table, sorted. */
function interfaces(table: string): string[] {
  return [...table.matchAll(/^\s*([^\s:]+):/gm)].map((m) => m[1]!).sort();
}

async function logsOf(id: string, until: RegExp): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const out = (await suite.env.crictl(['logs', id])).stdout;
    if (until.test(out) || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('runsc (gVisor) as a RuntimeClass handler', () => {
  it('is listed among the runtime handlers', async () => {
    const status = await rpc<StatusResponse__Output>((cb) => suite.runtime.Status({}, cb));
    expect(status.runtime_handlers.map((h) => h.name)).toContain('runsc');
  });

  it("runs a pod's container under gVisor's kernel, and exec reaches it", async () => {
    let containerId: string;
    try {
      containerId = (
        await rpc<CreateContainerResponse__Output>((cb) =>
          suite.runtime.CreateContainer(
            {
              pod_sandbox_id: suite.podId,
              config: {
                metadata: { name: 'kernel', attempt: 0 },
                image: { image: suite.env.image },
                command: ['sh', '-c', '/bin/busybox dmesg; echo done; sleep 600'],
              },
              sandbox_config: { metadata: suite.metadata },
            },
            cb,
          ),
        )
      ).container_id;
    } catch (err) {
      // The handler's refusal must carry runsc's reason; the test fails loudly with it.
      throw new Error(`runsc cannot run containers on this machine: ${(err as Error).message}`);
    }
    await rpc((cb) => suite.runtime.StartContainer({ container_id: containerId }, cb));
    const logs = await logsOf(containerId, /done/);
    expect(logs, 'dmesg inside the container').toMatch(/Starting gVisor/);
    const exec = await suite.env.crictl(['exec', containerId, '/bin/busybox', 'dmesg']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toMatch(/Starting gVisor/);
    // Its network is the pod's namespace (its interfaces), not the host's.
    const inside = await suite.env.crictl(['exec', containerId, 'cat', '/proc/net/dev']);
    expect(inside.code, inside.stderr).toBe(0);
    const podNetns = path.join(suite.env.berthd.state, 'ns', 'net', suite.podId);
    const pod = await execFileCapture('nsenter', [`--net=${podNetns}`, 'cat', '/proc/net/dev']);
    expect(pod.code, pod.stderr).toBe(0);
    expect(interfaces(inside.stdout)).toEqual(interfaces(pod.stdout));
    expect(interfaces(inside.stdout)).not.toEqual(interfaces(await readFile('/proc/net/dev', 'utf8')));
    const stop = await suite.env.crictl(['stop', '-t', '5', containerId]);
    expect(stop.code, stop.stderr).toBe(0);
    const rm = await suite.env.crictl(['rm', containerId]);
    expect(rm.code, rm.stderr).toBe(0);
    // runsc's state for the container went with it.
    const runscRoot = path.join(suite.env.berthd.state, 'runsc');
    const left = await readdir(runscRoot).catch(() => [] as string[]);
    expect(left.filter((f) => f.includes(containerId))).toEqual([]);
  });
});
