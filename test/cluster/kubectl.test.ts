/**
 * kubectl against a one-node cluster on Berth, as a user types it: run and watch, logs -f,
 * exec with a tty and a resize, attach, port-forward, cp both ways, delete with a grace period,
 * a Deployment scaled 1→5→0, a Job, a Pod with an image volume, an in-place resize, the
 * supplemental groups policies, a Pod with hostUsers: false, a Pod under gVisor by its
 * RuntimeClass, and a checkpoint through kubelet's API. Every stream goes kubectl →
 * kube-apiserver → kubelet → Berth's CRI streaming server and back.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pushBusyboxImage } from '../cri/berthd/env.js';
import { Cluster, NODE_NAME } from './cluster.js';
import { startKubectl, type KubectlProcess } from './kubectl-process.js';

const MORE_APPLETS = ['tar', 'stty', 'sleep', 'cat', 'mkdir', 'seq', 'ls'];

describe('kubectl v1.36 on a one-node cluster on Berth', () => {
  let reg: TestRegistry | undefined;
  let cluster: Cluster | undefined;
  let work: string;
  let image: string;
  const running: KubectlProcess[] = [];

  const kubectl = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await cluster!.kubectl(args, timeoutMs);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const kubectlProcess = (args: string[], opts: { tty?: boolean } = {}): KubectlProcess => {
    const p = startKubectl(cluster!.kubectlFlags(), args, opts);
    running.push(p);
    return p;
  };
  const waitReady = (pod: string): Promise<string> =>
    kubectl(['wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=120s']);

  const hostKubeDir = path.join(homedir(), '.kube');
  let hostKubeDirBefore: boolean;

  beforeAll(async () => {
    hostKubeDirBefore = existsSync(hostKubeDir);
    work = await mkdtemp(path.join(tmpdir(), 'berth-kubectl-'));
    reg = await startRegistry();
    image = await pushBusyboxImage(reg, work, 'cluster/busybox', MORE_APPLETS);
    cluster = await Cluster.start({ runtime: 'berth', registry: { host: reg.host } });
  }, 300_000);

  afterAll(async () => {
    for (const p of running) p.kill();
    const keep = process.env.BERTH_CLUSTER_LOG_DIR;
    await cluster?.stop(keep ? { keepLogsIn: keep } : {});
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  }, 180_000);

  it('kubectl run, and get pods -w sees it go to Running', async () => {
    await kubectl([
      'run',
      'web',
      `--image=${image}`,
      '--restart=Never',
      '--',
      'sh',
      '-c',
      'mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 8080 -h /www',
    ]);
    const watch = kubectlProcess(['get', 'pod', 'web', '-w', '-o', 'jsonpath={.status.phase}{"\\n"}']);
    await watch.waitForOutput(/^Running$/m, 120_000);
    watch.kill();
    const phases = watch.stdout().split('\n').filter(Boolean);
    // Pending (possibly several times) and then Running, never anything else.
    expect(phases.at(-1)).toBe('Running');
    expect(phases.every((p) => p === 'Pending' || p === 'Running')).toBe(true);
  });

  it('kubectl logs -f follows a container until it exits', async () => {
    await kubectl([
      'run',
      'counter',
      `--image=${image}`,
      '--restart=Never',
      '--',
      'sh',
      '-c',
      'for i in 1 2 3 4 5; do echo line $i; sleep 1; done',
    ]);
    const logs = kubectlProcess(['logs', '-f', 'counter', '--pod-running-timeout=120s']);
    const code = await logs.exited(120_000);
    expect(code, logs.stderr()).toBe(0);
    expect(logs.stdout()).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
  });

  it('kubectl exec -it runs a shell on a tty and passes a terminal resize', async () => {
    await waitReady('web');
    // kubectl asks for a tty only when its own stdin is one: `script` gives it a terminal of a
    // known size, then resizes it while the command inside reads its size twice.
    const session = kubectlProcess(
      [
        'exec',
        '-it',
        '-v=4',
        'web',
        '--',
        'sh',
        '-c',
        'echo "size=$(stty size)"; tty; sleep 3; echo "size=$(stty size)"',
      ],
      { tty: true },
    );
    await session.waitForOutput(/^\/dev\/pts\/\d+\r?$/m, 60_000);
    await session.resize(50, 132);
    expect(await session.exited(60_000), session.stdout()).toBe(0);
    // kubectl's own log lines share the terminal, so the sizes are found by their marker.
    const sizes = [...session.stdout().matchAll(/size=(\d+ \d+)/g)].map((m) => m[1]);
    expect(sizes, session.stdout()).toEqual(['30 100', '50 132']);
    // The stream protocol kubectl 1.36 speaks: websockets, v5 (close signals), with no fallback.
    expect(session.stdout()).toMatch(/Subprotocol negotiated.*v5\.channel\.k8s\.io/);
    expect(session.stdout()).not.toMatch(/RemoteCommand fallback/);
  });

  it('kubectl attach reaches the stdin and stdout of a running container', async () => {
    await kubectl([
      'run',
      'echoer',
      `--image=${image}`,
      '--restart=Never',
      '--stdin',
      '--attach=false',
      '--',
      'sh',
      '-c',
      'while read line; do echo "got: $line"; done',
    ]);
    await waitReady('echoer');
    const attach = kubectlProcess(['attach', '-i', '-v=4', 'echoer']);
    attach.write('first\n');
    await attach.waitForOutput(/got: first/, 60_000);
    attach.write('second\n');
    await attach.waitForOutput(/got: second/, 60_000);
    attach.kill();
    expect(attach.stderr()).toMatch(/Subprotocol negotiated.*v5\.channel\.k8s\.io/);
  });

  it('kubectl port-forward reaches a server in the pod', async () => {
    await waitReady('web');
    const forward = kubectlProcess(['port-forward', 'pod/web', '0:8080']);
    const m = await forward.waitForOutput(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/, 60_000);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${m[1]}/`);
      expect(await res.text()).toBe('hello from web\n');
    }
    forward.kill();
  });

  it('kubectl cp copies a file into the pod and back', async () => {
    await waitReady('web');
    const local = path.join(work, 'to-pod.txt');
    const content = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    await writeFile(local, content);
    await kubectl(['cp', local, 'web:/tmp/copied.txt']);
    expect(await kubectl(['exec', 'web', '--', 'cat', '/tmp/copied.txt'])).toBe(content);
    await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo made in the pod > /tmp/back.txt']);
    const back = path.join(work, 'from-pod.txt');
    await kubectl(['cp', 'web:/tmp/back.txt', back]);
    expect(await readFile(back, 'utf8')).toBe('made in the pod\n');
  });

  it('kubectl delete waits out the grace period of a container that ignores SIGTERM', async () => {
    await kubectl([
      'run',
      'stubborn',
      `--image=${image}`,
      '--restart=Never',
      '--',
      'sh',
      '-c',
      "trap 'echo TERM' TERM; while true; do sleep 1; done",
    ]);
    await waitReady('stubborn');
    const t0 = Date.now();
    await kubectl(['delete', 'pod', 'stubborn', '--grace-period=4']);
    const elapsed = (Date.now() - t0) / 1000;
    expect(elapsed).toBeGreaterThanOrEqual(3.5);
    expect(elapsed).toBeLessThan(30);
    const gone = await cluster!.kubectl(['get', 'pod', 'stubborn']);
    expect(gone.stderr).toMatch(/NotFound/);
  });

  it('a Deployment scales 1 → 5 → 0, and the runtime follows', async () => {
    await kubectl(['create', 'deployment', 'fleet', `--image=${image}`, '--', 'sleep', '3600']);
    await kubectl(['rollout', 'status', 'deployment/fleet', '--timeout=120s']);
    await kubectl(['scale', 'deployment/fleet', '--replicas=5']);
    await kubectl(['rollout', 'status', 'deployment/fleet', '--timeout=180s']);
    const ready = await kubectl([
      'get',
      'pods',
      '-l',
      'app=fleet',
      '-o',
      'jsonpath={.items[*].status.phase}',
    ]);
    expect(ready.split(' ')).toEqual(['Running', 'Running', 'Running', 'Running', 'Running']);
    expect(await readySandboxes('fleet')).toHaveLength(5);
    await kubectl(['scale', 'deployment/fleet', '--replicas=0']);
    await kubectl(['wait', '--for=delete', 'pod', '-l', 'app=fleet', '--timeout=120s']);
    expect(await kubectl(['get', 'pods', '-l', 'app=fleet', '-o', 'name'])).toBe('');
    await cluster!.waitFor(
      'no ready fleet sandbox',
      async () => (await readySandboxes('fleet')).length === 0,
    );
  });

  it('a Job runs to completion', async () => {
    await kubectl(['create', 'job', 'once', `--image=${image}`, '--', 'sh', '-c', 'echo job done']);
    await kubectl(['wait', '--for=condition=Complete', 'job/once', '--timeout=120s']);
    expect(await kubectl(['logs', 'job/once'])).toBe('job done\n');
    const succeeded = await kubectl(['get', 'job', 'once', '-o', 'jsonpath={.status.succeeded}']);
    expect(succeeded).toBe('1');
  });

  it('a Pod with an image volume reads the image, whole and by sub path', async () => {
    const manifest = path.join(work, 'image-volume-pod.json');
    await writeFile(
      manifest,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'imgvol' },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'reader',
              image,
              command: ['sh', '-c', 'head -1 /vol/etc/passwd; ls /sub'],
              volumeMounts: [
                { name: 'img', mountPath: '/vol', readOnly: true },
                { name: 'img', mountPath: '/sub', subPath: 'etc', readOnly: true },
              ],
            },
          ],
          volumes: [{ name: 'img', image: { reference: image, pullPolicy: 'IfNotPresent' } }],
        },
      }),
    );
    await kubectl(['apply', '-f', manifest]);
    await kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/imgvol', '--timeout=120s']);
    const logs = (await kubectl(['logs', 'imgvol'])).split('\n');
    expect(logs[0]).toBe('root:x:0:0:root:/root:/bin/sh');
    expect(logs.slice(1)).toEqual(expect.arrayContaining(['group', 'passwd']));
  });

  it("kubelet's checkpoint API, reached through the API server's node proxy, archives a running container", async () => {
    await kubectl([
      'run',
      'ckpt',
      `--image=${image}`,
      '--restart=Never',
      '--',
      'sh',
      '-c',
      'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done',
    ]);
    await waitReady('ckpt');
    // POST /checkpoint/<namespace>/<pod>/<container> on kubelet (KEP-2008), as an admin sends it.
    const out = await kubectl([
      'create',
      '--raw',
      `/api/v1/nodes/${NODE_NAME}/proxy/checkpoint/default/ckpt/ckpt`,
      '-f',
      '/dev/null',
    ]);
    const { items } = JSON.parse(out) as { items: string[] };
    expect(items).toHaveLength(1);
    expect(items[0]).toMatch(/\/checkpoints\/checkpoint-ckpt_default-ckpt-.*\.tar$/);
    const listing = (await execFile('tar', ['-tf', items[0]!])).split('\n');
    expect(listing).toContain('checkpoint/inventory.img');
    expect(listing).toContain('config.dump');
    // The container was copied, not moved: it runs on, never restarted.
    const pod = JSON.parse(await kubectl(['get', 'pod', 'ckpt', '-o', 'json'])) as {
      status: { phase: string; containerStatuses: { restartCount: number }[] };
    };
    expect(pod.status.phase).toBe('Running');
    expect(pod.status.containerStatuses[0]?.restartCount).toBe(0);
    await kubectl(['delete', 'pod', 'ckpt', '--grace-period=0', '--force']);
  });

  it('kubectl patch --subresource resize changes CPU and memory in place, without a restart', async () => {
    const limits = (cpu: string, memory: string) => ({ requests: { cpu, memory }, limits: { cpu, memory } });
    await kubectl([
      'run',
      'sizer',
      `--image=${image}`,
      '--restart=Never',
      `--overrides=${JSON.stringify({ spec: { containers: [{ name: 'sizer', image, command: ['sleep', '3600'], resources: limits('100m', '64Mi') }] } })}`,
    ]);
    await waitReady('sizer');
    const memoryLimit = (): Promise<string> =>
      kubectl([
        'exec',
        'sizer',
        '--',
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
      ]).then((o) => o.trim());
    expect(await memoryLimit()).toBe(String(64 * 1024 * 1024));
    await kubectl([
      'patch',
      'pod',
      'sizer',
      '--subresource',
      'resize',
      '--patch',
      JSON.stringify({ spec: { containers: [{ name: 'sizer', resources: limits('200m', '96Mi') }] } }),
    ]);
    await cluster!.waitFor('the resize in the pod status', async () => {
      const r = await cluster!.kubectl([
        'get',
        'pod',
        'sizer',
        '-o',
        'jsonpath={.status.containerStatuses[0].resources.limits.memory} {.status.containerStatuses[0].resources.limits.cpu}',
      ]);
      return r.stdout.trim() === '96Mi 200m';
    });
    expect(await memoryLimit()).toBe(String(96 * 1024 * 1024));
    expect(
      await kubectl(['get', 'pod', 'sizer', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']),
    ).toBe('0');
  });

  it('supplementalGroupsPolicy Strict leaves out the image groups, in the process and the pod status', async () => {
    const pods: [string, string, string, number[]][] = [
      ['groups-merge', 'Merge', '1000 2000 60000', [1000, 2000, 60000]],
      ['groups-strict', 'Strict', '1000 60000', [1000, 60000]],
    ];
    for (const [name, policy] of pods)
      await kubectl([
        'run',
        name,
        `--image=${image}`,
        '--restart=Never',
        `--overrides=${JSON.stringify({
          spec: {
            securityContext: {
              runAsUser: 1000,
              supplementalGroups: [60000],
              supplementalGroupsPolicy: policy,
            },
            containers: [{ name, image, command: ['sh', '-c', 'id -G'] }],
          },
        })}`,
      ]);
    for (const [name, , groups, reported] of pods) {
      await kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', `pod/${name}`, '--timeout=120s']);
      expect(await kubectl(['logs', name]), name).toBe(`${groups}\n`);
      const user = await kubectl([
        'get',
        'pod',
        name,
        '-o',
        'jsonpath={.status.containerStatuses[0].user.linux.supplementalGroups}',
      ]);
      expect(JSON.parse(user), name).toEqual(reported);
    }
  });

  it('a Pod with hostUsers: false runs in its own user namespace, its image and emptyDir root-owned inside', async () => {
    await kubectl([
      'run',
      'userns',
      `--image=${image}`,
      '--restart=Never',
      `--overrides=${JSON.stringify({
        spec: {
          hostUsers: false,
          containers: [
            {
              name: 'userns',
              image,
              command: [
                'sh',
                '-c',
                'cat /proc/self/uid_map; stat -c %u /bin/busybox; echo x > /data/f && stat -c %u /data/f',
              ],
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      })}`,
    ]);
    await kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/userns', '--timeout=120s']);
    const log = await kubectl(['logs', 'userns']);
    const [map, imageOwner, written] = log.trim().split('\n');
    // kubelet picks a host range of 65536 ids per pod, never the node's own ids.
    const [inside, host, size] = (map ?? '').trim().split(/\s+/).map(Number);
    expect([inside, size], `the pod's log:\n${log}`).toEqual([0, 65536]);
    expect(host).toBeGreaterThanOrEqual(65536);
    expect(host! % 65536).toBe(0);
    expect([imageOwner, written]).toEqual(['0', '0']);
  });

  it("a Pod with runtimeClassName runs under gVisor (RuntimeClass handler runsc), gVisor's kernel inside", async () => {
    const runtimeClass = path.join(work, 'runtimeclass.json');
    await writeFile(
      runtimeClass,
      JSON.stringify({
        apiVersion: 'node.k8s.io/v1',
        kind: 'RuntimeClass',
        metadata: { name: 'gvisor' },
        handler: 'runsc',
      }),
    );
    await kubectl(['apply', '-f', runtimeClass]);
    await kubectl([
      'run',
      'gvisor',
      `--image=${image}`,
      '--restart=Never',
      `--overrides=${JSON.stringify({ spec: { runtimeClassName: 'gvisor' } })}`,
      '--',
      '/bin/busybox',
      'dmesg',
    ]);
    await kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/gvisor', '--timeout=120s']);
    // runc would show the node's kernel log (or refuse it); gVisor prints its own boot.
    expect(await kubectl(['logs', 'gvisor'])).toMatch(/Starting gVisor/);
  });

  it('refuses a second cluster on the ports in use, naming them', async () => {
    await expect(Cluster.start({ runtime: 'berth', ports: cluster!.ports })).rejects.toThrow(
      new RegExp(
        `ports in use: ${cluster!.ports.apiserver} \\(apiserver\\), ${cluster!.ports.etcdClient} \\(etcdClient\\)`,
      ),
    );
    // The running cluster is unharmed.
    expect(await kubectl(['get', 'pod', 'web', '-o', 'jsonpath={.status.phase}'])).toBe('Running');
  });

  it('stops everything it started, leaving nothing behind', async () => {
    const c = cluster!;
    cluster = undefined;
    const held = c.held();
    expect(held.pids).toHaveLength(5); // etcd, kube-apiserver, -controller-manager, -scheduler, kubelet
    const keep = process.env.BERTH_CLUSTER_LOG_DIR;
    await c.stop(keep ? { keepLogsIn: keep } : {});
    expect(held.pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    const links = await execFile('ip', ['-o', 'link', 'show']);
    expect(held.links.filter((l) => links.includes(` ${l}:`))).toEqual([]);
    expect(held.dirs.filter((d) => existsSync(d))).toEqual([]);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(held.dirs.filter((d) => mounts.includes(` ${d}/`))).toEqual([]);
    // kubectl's cache was the cluster's own: the host's ~/.kube is as it was.
    expect(existsSync(hostKubeDir)).toBe(hostKubeDirBefore);
    // The pods left running at stop were removed through the runtime: CNI DEL took their rules.
    expect(held.network).toBeTruthy();
    const nat = await execFile('iptables', ['-t', 'nat', '-S']);
    expect(nat.split('\n').filter((l) => l.includes(held.network!))).toEqual([]);
  });

  /** The runtime's ready sandboxes of a Deployment's pods (its `app` label), through crictl. */
  async function readySandboxes(app: string): Promise<string[]> {
    const endpoint = cluster!.criEndpoint;
    const r = await new Promise<string>((resolve, reject) => {
      const p = spawn(path.join(TOOLS_BIN, 'crictl'), [
        '-r',
        endpoint,
        'pods',
        '--label',
        `app=${app}`,
        '--state',
        'ready',
        '-q',
      ]);
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`crictl pods: exit ${code}`))));
    });
    return r.split('\n').filter(Boolean);
  }
});
