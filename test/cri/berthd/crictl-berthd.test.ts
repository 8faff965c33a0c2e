/**
 * crictl v1.36 drives every subcommand against a real berthd's CRI socket (issue 10's list):
 * version, info, pull, images, inspecti, imagefsinfo, runp, pods, inspectp, create, start, ps,
 * inspect, logs, exec (sync and -i), attach, port-forward, stats, statsp, update, events, stop,
 * rm, stopp, rmp, rmi. The pod runs two containers sharing its network namespace: one serves
 * HTTP on 8080, the other fetches it from 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerEventResponse__Output } from '../../../src/cri/generated/runtime/v1/ContainerEventResponse.js';
import type { PodSandboxStatusResponse__Output } from '../../../src/cri/generated/runtime/v1/PodSandboxStatusResponse.js';
import { loadCriProto } from '../../../src/cri/proto.js';
import type { BerthEvent } from '../../../src/events/index.js';
import { mountsUnder } from '../../containers/support.js';
import { rpc } from '../harness.js';
import { CRICTL, startCriEnv, type CriEnv } from './env.js';

let env: CriEnv;
let podJson: string;
let logDir: string;
let podId = '';
let serverId = '';
let clientId = '';
let tickerId = '';

async function ok(args: string[], input?: string): Promise<string> {
  const r = await env.crictl(args, input !== undefined ? { input } : {});
  expect(
    r.code,
    `crictl ${args.join(' ')} failed:\n${r.stderr}\n--- berthd:\n${env.berthd.output().slice(-3000)}`,
  ).toBe(0);
  return r.stdout;
}

/** Runs a long-lived crictl (attach, port-forward, events) until `until` sees what it waits for. */
function background(args: string[]): {
  child: ChildProcess;
  output: () => string;
  waitFor(re: RegExp): Promise<RegExpExecArray>;
} {
  const child = spawn(CRICTL, ['--config', env.crictlConfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    text += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    output: () => text,
    waitFor(re) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(text);
          if (m) return resolve(m);
          if (child.exitCode !== null) return reject(new Error(`crictl ${args.join(' ')} exited: ${text}`));
          waiters.push(check);
        };
        child.once('exit', () => {
          const m = re.exec(text);
          if (m) resolve(m);
          else reject(new Error(`crictl ${args.join(' ')} exited ${child.exitCode}: ${text}`));
        });
        check();
      });
    },
  };
}

function httpGet(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function containerJson(
  name: string,
  command: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const file = path.join(env.work, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      metadata: { name },
      image: { image: env.image },
      command,
      log_path: `${name}.log`,
      linux: {},
      ...extra,
    }),
  );
  return file;
}

beforeAll(async () => {
  env = await startCriEnv();
  logDir = path.join(env.work, 'pod-logs');
  await mkdir(logDir, { recursive: true });
  podJson = path.join(env.work, 'pod.json');
  await writeFile(
    podJson,
    JSON.stringify({
      metadata: { name: 'web', namespace: 'shop', uid: 'uid-web-1', attempt: 0 },
      hostname: 'web',
      log_directory: logDir,
      labels: { app: 'web' },
      linux: {},
    }),
  );
}, 180_000);

afterAll(async () => {
  if (!env) return;
  // Whatever a failing test left: the pod (and its containers), then the daemon.
  if (podId) {
    await env.crictl(['stopp', podId]);
    await env.crictl(['rmp', '-f', podId]);
  }
  await env.cleanup();
}, 120_000);

describe('crictl against berthd', () => {
  it('version and info', async () => {
    expect(await ok(['version'])).toMatch(/RuntimeName:\s+berth/);
    const info = JSON.parse(await ok(['info'])) as {
      status: { conditions: { type: string; status: boolean }[] };
      runtimeHandlers: { name: string }[];
    };
    expect(info.status.conditions.map((c) => [c.type, c.status])).toEqual([
      ['RuntimeReady', true],
      ['NetworkReady', true],
    ]);
    expect(info.runtimeHandlers.map((h) => h.name)).toContain('runc');
  });

  it('pull, images, inspecti, imagefsinfo', async () => {
    expect(await ok(['pull', env.image])).toMatch(/Image is up to date for sha256:[0-9a-f]{64}/);
    const images = await ok(['images']);
    expect(images).toContain(`${env.image.split(':1')[0]}`);
    const inspect = JSON.parse(await ok(['inspecti', env.image])) as {
      status: { repoTags: string[]; repoDigests: string[]; id: string };
    };
    expect(inspect.status.repoTags).toContain(env.image);
    // The image pulled by tag is also found by its repo digest (critest's "all kinds of references").
    const repoDigest = inspect.status.repoDigests[0]!;
    expect(repoDigest).toMatch(/@sha256:[0-9a-f]{64}$/);
    const byDigest = JSON.parse(await ok(['inspecti', repoDigest])) as { status: { id: string } };
    expect(byDigest.status.id).toBe(inspect.status.id);
    // KEP-4191: images (content store and unpacked layers) and containers (writable layers) apart.
    type Fs = { fsId: { mountpoint: string }; usedBytes: { value: string } };
    const fs = JSON.parse(await ok(['imagefsinfo'])) as {
      status: { imageFilesystems: Fs[]; containerFilesystems: Fs[] };
    };
    const [imageFs, containerFs] = [fs.status.imageFilesystems[0]!, fs.status.containerFilesystems[0]!];
    expect(imageFs.fsId.mountpoint).toBe(path.join(env.berthd.root, 'content'));
    expect(containerFs.fsId.mountpoint).not.toBe(imageFs.fsId.mountpoint);
    // The layer blob (~1 MB) and the unpacked busybox (~2 MB) count, so more than 2.5 MiB; no
    // container has a writable layer yet.
    expect(Number(imageFs.usedBytes.value)).toBeGreaterThan(2.5 * 1024 * 1024);
    expect(Number(containerFs.usedBytes.value)).toBe(0);
  });

  it('runp, pods, inspectp', async () => {
    podId = (await ok(['runp', podJson])).trim();
    expect(podId).toMatch(/^[0-9a-f]{64}$/);
    // The same pod attempt again is the same sandbox (kubelet's retry), not a second one.
    expect((await ok(['runp', podJson])).trim()).toBe(podId);
    const pods = await ok(['pods', '--name', 'web']);
    expect(pods).toContain(podId.slice(0, 13));
    expect(pods).toContain('Ready');
    const inspect = JSON.parse(await ok(['inspectp', podId])) as {
      status: { state: string; network: { ip: string }; metadata: { uid: string } };
    };
    expect(inspect.status.state).toBe('SANDBOX_READY');
    expect(inspect.status.network.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(inspect.status.metadata.uid).toBe('uid-web-1');
  });

  it('create and start two containers sharing the pod network; ps, inspect', async () => {
    const server = await containerJson('server', [
      'sh',
      '-c',
      'mkdir -p /www && echo hello-from-server > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www',
    ]);
    const client = await containerJson('client', ['sh', '-c', 'echo client up; exec sleep 3600'], {
      stdin: true,
    });
    const ticker = await containerJson('ticker', ['sh', '-c', 'while true; do echo tick; sleep 1; done']);
    serverId = (await ok(['create', podId, server, podJson])).trim();
    clientId = (await ok(['create', podId, client, podJson])).trim();
    tickerId = (await ok(['create', podId, ticker, podJson])).trim();
    for (const id of [serverId, clientId, tickerId]) await ok(['start', id]);
    const ps = await ok(['ps', '--pod', podId]);
    for (const id of [serverId, clientId, tickerId]) expect(ps).toContain(id.slice(0, 13));
    expect(ps).toContain('Running');
    const inspect = JSON.parse(await ok(['inspect', serverId])) as {
      status: { state: string; metadata: { name: string }; logPath: string };
    };
    expect(inspect.status.state).toBe('CONTAINER_RUNNING');
    expect(inspect.status.metadata.name).toBe('server');
    expect(inspect.status.logPath).toBe(path.join(logDir, 'server.log'));
  });

  it('the client container reaches the server on localhost (shared netns); exec sync', async () => {
    let body = '';
    // httpd may still be starting: exec until it answers (each exec is a real request).
    for (let i = 0; i < 50 && !body.includes('hello-from-server'); i++) {
      const r = await env.crictl([
        'exec',
        '-s',
        clientId,
        'wget',
        '-qO-',
        'http://127.0.0.1:8080/index.html',
      ]);
      body = r.stdout;
    }
    expect(body).toContain('hello-from-server');
  });

  it('logs', async () => {
    expect(await ok(['logs', serverId])).toContain('serving');
    expect(await ok(['logs', clientId])).toContain('client up');
  });

  it('exec -i passes stdin; a failing exec reports its exit code', async () => {
    expect(await ok(['exec', '-i', clientId, 'tr', 'a-z', 'A-Z'], 'shout\n')).toBe('SHOUT\n');
    const failed = await env.crictl(['exec', clientId, 'sh', '-c', 'exit 7']);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('exit code 7');
    const sync = await env.crictl(['exec', '-s', clientId, 'sh', '-c', 'echo out; exit 5']);
    // crictl's CRI client turns a non-zero ExecSync exit into an error naming the code.
    expect(sync.code).not.toBe(0);
    expect(sync.stderr).toContain('exited with 5');
  });

  it('attach follows the container output', async () => {
    const attach = background(['attach', tickerId]);
    try {
      await attach.waitFor(/tick/);
    } finally {
      attach.child.kill('SIGTERM');
    }
  });

  it('port-forward reaches the server inside the pod', async () => {
    const pf = background(['port-forward', podId, '0:8080']);
    try {
      const m = await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+)/);
      expect(await httpGet(Number(m[1]), '/index.html')).toBe('hello-from-server\n');
    } finally {
      pf.child.kill('SIGTERM');
    }
  });

  it('stats, statsp, update', async () => {
    const stats = JSON.parse(await ok(['stats', '-o', 'json', serverId])) as {
      stats: { attributes: { id: string }; memory: { workingSetBytes: { value: string } } }[];
    };
    expect(stats.stats[0]!.attributes.id).toBe(serverId);
    expect(Number(stats.stats[0]!.memory.workingSetBytes.value)).toBeGreaterThan(0);
    const statsp = JSON.parse(await ok(['statsp', '-o', 'json', podId])) as {
      stats: { attributes: { id: string } }[];
    };
    expect(statsp.stats[0]!.attributes.id).toBe(podId);
    await ok(['update', '--memory', '67108864', serverId]);
  });

  it('stats name the writable layer by the filesystem ImageFsInfo reports (kubelet looks it up)', async () => {
    const stats = JSON.parse(await ok(['stats', '-o', 'json', serverId])) as {
      stats: { writableLayer?: { fsId?: { mountpoint?: string } } }[];
    };
    const fsInfo = JSON.parse(await ok(['imagefsinfo', '-o', 'json'])) as {
      status: { containerFilesystems: { fsId: { mountpoint: string } }[] };
    };
    const mountpoint = stats.stats[0]!.writableLayer?.fsId?.mountpoint;
    expect(mountpoint).toBeTruthy();
    expect(mountpoint).toBe(fsInfo.status.containerFilesystems[0]!.fsId.mountpoint);
  });

  it("a new attempt of an exited container is a container of its own (kubelet's restart); a retried create is not", async () => {
    // kubelet creates containers from the image id, with the attempt as its restart count.
    const imageId = (
      JSON.parse(await ok(['inspecti', '-o', 'json', env.image])) as { status: { id: string } }
    ).status.id;
    const attempt = (n: number): Promise<string> =>
      containerJson(`once-${n}`, ['sh', '-c', 'exit 3'], {
        metadata: { name: 'once', attempt: n },
        image: { image: imageId },
        linux: {
          security_context: {
            run_as_user: { value: 1000 },
            run_as_group: { value: 1000 },
            supplemental_groups: [2000],
          },
        },
      });
    const first = (await ok(['create', podId, await attempt(0), podJson])).trim();
    await ok(['start', first]);
    for (let i = 0; i < 100; i++) {
      if (
        (JSON.parse(await ok(['inspect', first])) as { status: { state: string } }).status.state ===
        'CONTAINER_EXITED'
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const second = (await ok(['create', podId, await attempt(1), podJson])).trim();
    expect(second).not.toBe(first);
    await ok(['start', second]);
    expect((await ok(['create', podId, await attempt(1), podJson])).trim()).toBe(second);
    const listed = JSON.parse(await ok(['ps', '-a', '--name', '^once$', '-o', 'json'])) as {
      containers: { id: string; metadata: { attempt: number } }[];
    };
    expect(
      listed.containers.map((c) => [c.id, c.metadata.attempt]).sort((a, b) => Number(a[1]) - Number(b[1])),
    ).toEqual([
      [first, 0],
      [second, 1],
    ]);
    // kubelet (EventedPLEG) reads PodSandboxStatus's container list unsorted and takes the first
    // status of a name as the latest attempt: newest first.
    const runtime = new (loadCriProto().runtime.v1.RuntimeService)(
      `unix://${env.criSocket}`,
      grpc.credentials.createInsecure(),
    );
    try {
      const podStatus = await rpc<PodSandboxStatusResponse__Output>((cb) =>
        runtime.PodSandboxStatus({ pod_sandbox_id: podId }, cb),
      );
      const once = podStatus.containers_statuses.filter((c) => c.metadata?.name === 'once');
      expect(once.map((c) => c.id)).toEqual([second, first]);
      expect(BigInt(podStatus.timestamp)).toBeGreaterThan(0n);
    } finally {
      runtime.close();
    }
    const inspect = JSON.parse(await ok(['inspect', first])) as {
      status: {
        exitCode: number;
        image: { image: string };
        imageRef: string;
        user: { linux: { uid: string; gid: string; supplementalGroups: string[] } };
      };
    };
    expect(inspect.status.exitCode).toBe(3);
    expect(inspect.status.image.image).toBe(env.image);
    expect(inspect.status.imageRef).toMatch(
      new RegExp(`^${env.image.replace(/:1$/, '').replace(/[./]/g, '\\$&')}@sha256:[0-9a-f]{64}$`),
    );
    expect(inspect.status.user.linux).toMatchObject({ uid: '1000', gid: '1000' });
    expect(inspect.status.user.linux.supplementalGroups.map(Number)).toContain(2000);
    for (const id of [first, second]) await ok(['rm', '-f', id]);
  });

  it('events (two subscribers), stop, rm', async () => {
    const subscribers = [background(['events', '-o', 'json']), background(['events', '-o', 'json'])];
    const about = (type: string): RegExp =>
      new RegExp(`"containerId":\\s*"${tickerId}"[^}]*${type}|${type}[^}]*"containerId":\\s*"${tickerId}"`);
    try {
      // crictl prints nothing until an event arrives: create probe containers (each a new name:
      // a create is keyed by name and attempt) until both subscribers have shown one, so both
      // are known to be subscribed before the events under test.
      for (let i = 0; i < 30; i++) {
        if (subscribers.every((s) => s.output().includes('CONTAINER_CREATED_EVENT'))) break;
        const id = (await ok(['create', podId, await containerJson(`probe-${i}`, ['true']), podJson])).trim();
        await ok(['rm', id]);
      }
      await ok(['stop', '--timeout', '0', tickerId]);
      for (const s of subscribers) await s.waitFor(about('CONTAINER_STOPPED_EVENT'));
      const inspect = JSON.parse(await ok(['inspect', tickerId])) as { status: { state: string } };
      expect(inspect.status.state).toBe('CONTAINER_EXITED');
      await ok(['rm', tickerId]);
      for (const s of subscribers) await s.waitFor(about('CONTAINER_DELETED_EVENT'));
    } finally {
      for (const s of subscribers) s.child.kill('SIGTERM');
    }
    expect(await ok(['ps', '-a', '--pod', podId])).not.toContain(tickerId.slice(0, 13));
  });

  it("GetContainerEvents: each event carries the pod's status as it stands after the event", async () => {
    const runtime = new (loadCriProto().runtime.v1.RuntimeService)(
      `unix://${env.criSocket}`,
      grpc.credentials.createInsecure(),
    );
    const stream = runtime.GetContainerEvents({});
    const events: ContainerEventResponse__Output[] = [];
    stream.on('data', (e: ContainerEventResponse__Output) => events.push(e));
    stream.on('error', () => undefined); // cancelled below
    const about = async (id: string, type: string): Promise<ContainerEventResponse__Output> => {
      for (let i = 0; i < 100; i++) {
        const e = events.find((x) => x.container_id === id && x.container_event_type === type);
        if (e) return e;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no ${type} for ${id}; got ${events.map((e) => e.container_event_type).join(', ')}`);
    };
    const stateIn = (e: ContainerEventResponse__Output, id: string): string | undefined =>
      e.containers_statuses.find((c) => c.id === id)?.state;
    try {
      // Subscribed once a probe's event arrives.
      for (let i = 0; !events.length && i < 30; i++) {
        const probe = (
          await ok(['create', podId, await containerJson(`evprobe-${i}`, ['true']), podJson])
        ).trim();
        await ok(['rm', probe]);
        await new Promise((r) => setTimeout(r, 200));
      }
      const id = (
        await ok(['create', podId, await containerJson('evented', ['sh', '-c', 'exit 0']), podJson])
      ).trim();
      // CREATED once CreateContainer's work is done: the container reads CREATED, not UNKNOWN.
      expect(stateIn(await about(id, 'CONTAINER_CREATED_EVENT'), id)).toBe('CONTAINER_CREATED');
      await ok(['start', id]);
      const stopped = await about(id, 'CONTAINER_STOPPED_EVENT');
      expect(stateIn(stopped, id)).toBe('CONTAINER_EXITED');
      expect(stopped.pod_sandbox_status?.id).toBe(podId);
      await ok(['rm', id]);
      const deleted = await about(id, 'CONTAINER_DELETED_EVENT');
      expect(stateIn(deleted, id)).toBeUndefined();
      expect(deleted.pod_sandbox_status?.metadata?.uid).toBeTruthy();
      const mine = events.filter((e) => e.container_id === id);
      expect(mine.map((e) => e.container_event_type)).toEqual([
        'CONTAINER_CREATED_EVENT',
        'CONTAINER_STARTED_EVENT',
        'CONTAINER_STOPPED_EVENT',
        'CONTAINER_DELETED_EVENT',
      ]);
      const times = mine.map((e) => BigInt(e.created_at));
      expect([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(times);
    } finally {
      stream.cancel();
      runtime.close();
    }
  });

  it('rm racing rmp of the same stopped pod: both succeed, and the container is removed once', async () => {
    const racePod = path.join(env.work, 'race-pod.json');
    await writeFile(
      racePod,
      JSON.stringify({
        metadata: { name: 'race', namespace: 'shop', uid: 'uid-race-1', attempt: 0 },
        log_directory: logDir,
        linux: {},
      }),
    );
    const raceId = (await ok(['runp', racePod])).trim();
    const racer = (
      await ok(['create', raceId, await containerJson('racer', ['sleep', '3600']), racePod])
    ).trim();
    await ok(['start', racer]);
    await ok(['stopp', raceId]);
    const [rm, rmp] = await Promise.all([env.crictl(['rm', racer]), env.crictl(['rmp', raceId])]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(rmp.code, rmp.stderr).toBe(0);
    expect(await ok(['pods', '-q'])).not.toContain(raceId);
    expect(await ok(['ps', '-a', '-q'])).not.toContain(racer);
    const topics: string[] = [];
    for await (const e of env.berthd.client.stream<BerthEvent>('/v1/events', { entity: racer }))
      topics.push(e.topic);
    expect(topics.filter((t) => t === '/containers/delete')).toHaveLength(1);
    expect(topics.filter((t) => t === '/tasks/delete')).toHaveLength(1);
    expect(mountsUnder(path.join(env.berthd.state, 'containers', racer))).toEqual([]);
  });

  it('stopp, rmp, rmi', async () => {
    // An image a container still uses is refused, naming the container, and stays.
    const refused = await env.crictl(['rmi', env.image]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/in use by container [0-9a-f]+: remove the container first/);
    expect(await ok(['images', '-q'])).not.toBe('');
    await ok(['stopp', podId]);
    const inspect = JSON.parse(await ok(['inspectp', podId])) as { status: { state: string } };
    expect(inspect.status.state).toBe('SANDBOX_NOTREADY');
    await ok(['rmp', podId]);
    expect(await ok(['pods', '-q'])).not.toContain(podId);
    expect(await ok(['ps', '-a', '-q'])).toBe('');
    // The exited containers went in the pod's own removal (one transition), each recorded once,
    // before the sandbox.
    const removal = `sandbox:${podId}:remove`;
    const deletes: { topic: string; subject: string; workflowId: string }[] = [];
    for await (const e of env.berthd.client.stream<BerthEvent>('/v1/events', {})) {
      if (e.topic === '/containers/delete' || e.topic === '/sandboxes/delete')
        deletes.push({
          topic: e.topic,
          subject: String((e.data as { id: string }).id),
          workflowId: e.cause.kind === 'workflow' ? e.cause.workflowId : e.cause.kind,
        });
    }
    const podDeletes = deletes.filter((d) => [serverId, clientId, podId].includes(d.subject));
    expect(podDeletes.map((d) => d.workflowId)).toEqual([removal, removal, removal]);
    expect(podDeletes.at(-1)).toMatchObject({ topic: '/sandboxes/delete', subject: podId });
    expect(
      podDeletes
        .slice(0, 2)
        .map((d) => d.subject)
        .sort(),
    ).toEqual([serverId, clientId].sort());
    expect(mountsUnder(path.join(env.berthd.state, 'containers'))).toEqual([]);
    podId = '';
    await ok(['rmi', env.image]);
    expect(await ok(['images', '-q'])).toBe('');
  });
});
