/**
 * berth run / ps / inspect / exec / logs / stop / rm / stats against a real berthd with runc,
 * conmon and overlayfs, on a busybox image pulled from a loopback registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename, rm as removeFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { execFile } from '../../src/common/exec.js';
import { BERTH_CLI, runCli, testEnv } from '../helpers/berthd.js';
import { Client, Connection } from '@temporalio/client';
import type { NodeInfo } from '../../src/api/types.js';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import { containerWorkflowIds } from '../../src/workflows/container-types.js';
import type { BerthEvent } from '../../src/events/index.js';
import { cgroupsOf, conmonsUnder, mountsUnder, startContainerEnv, type ContainerEnv } from './support.js';

let env: ContainerEnv;
const cli = (...args: string[]) => runCli(env.berthd.socket, args);

/** The CLI with `input` on its stdin (then closed). */
function cliWithInput(input: string, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BERTH_CLI, '--socket', env.berthd.socket, ...args], {
      env: testEnv(),
    });
    let stdout = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.on('close', (code) => resolve({ code, stdout }));
    p.stdin.end(input);
  });
}

beforeAll(async () => {
  env = await startContainerEnv();
}, 180_000);

afterAll(async () => {
  await env?.cleanup();
}, 60_000);

async function eventsOf(id: string): Promise<BerthEvent[]> {
  const out: BerthEvent[] = [];
  for await (const e of env.berthd.client.stream<BerthEvent>('/v1/events', { entity: id })) out.push(e);
  return out;
}

describe('berth run', () => {
  it('run --rm prints hi, exits 0 and leaves nothing behind', async () => {
    const r = await cli('run', '--rm', '--name', 'hello', env.image, 'echo', 'hi');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hi\n');
    expect(r.code).toBe(0);
    const all = await env.berthd.client.get<ContainerStatus[]>('/v1/containers');
    expect(all).toEqual([]);
    expect(conmonsUnder(env.berthd.state)).toEqual([]);
    expect(mountsUnder(`${env.berthd.state}/containers`)).toEqual([]);
    const dir = `${env.berthd.state}/containers`;
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  }, 120_000);
});

const api = () => env.berthd.client;

async function runDetached(...args: string[]): Promise<string> {
  const r = await cli('run', '-d', ...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

describe('a detached container', () => {
  it('is listed, inspected, exec-ed into, logged, measured, stopped and removed', async () => {
    const id = await runDetached(
      '--name',
      'sleeper',
      '--pids-limit',
      '64',
      '--cpu-quota',
      '50000',
      env.image,
      'sh',
      '-c',
      'echo started; exec sleep 1000',
    );
    const ps = await cli('ps');
    expect(ps.stdout).toMatch(/CONTAINER ID\s+NAME/);
    expect(ps.stdout).toContain(id.slice(0, 12));
    expect(ps.stdout).toContain('sleeper');
    const st = JSON.parse((await cli('inspect', 'sleeper')).stdout) as ContainerStatus;
    expect(st).toMatchObject({ id, name: 'sleeper', state: 'running', image: env.image });
    expect(st.pid).toBeGreaterThan(0);

    const ex = await cli('exec', id.slice(0, 8), 'sh', '-c', 'echo out; echo err >&2; exit 3');
    expect(ex).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const piped = await cliWithInput('piped\n', 'exec', '-i', id, 'cat');
    expect(piped).toMatchObject({ code: 0, stdout: 'piped\n' });
    // berth exec -i runs the runtime itself; its exec is still recorded whole, once each.
    const execs = (await eventsOf(id)).filter((e) => e.topic.startsWith('/tasks/exec-'));
    const lastExec = execs.filter((e) => e.data.execId === execs.at(-1)?.data.execId);
    expect(lastExec.map((e) => e.topic)).toEqual([
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exec-exited',
    ]);
    expect(lastExec[0]!.data.args).toEqual(['cat']);
    expect(lastExec[1]!.data.pid).toBeGreaterThan(0);
    expect(lastExec[2]!.data.exitCode).toBe(0);
    expect(lastExec[2]!.cause.caller).toMatchObject({ via: 'api', command: 'exec', uid: 0 });
    const exited = (body: Record<string, unknown>) =>
      api()
        .post(`/v1/containers/${id}/exec-exited`, body)
        .catch((e: unknown) => e as { code?: string; message?: string });
    expect(await exited({ execId: 'nope', exitCode: 0 })).toMatchObject({ code: 'not_found' });
    expect(await exited({ execId: lastExec[0]!.data.execId, exitCode: 300 })).toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/exitCode/),
    });
    // The terminal size the CLI sends is in the process file runc reads (consoleSize), so it is
    // in force before the command runs; a malformed size is refused naming the field.
    const { processFile } = await api().post<{ processFile: string }>(`/v1/containers/${id}/exec-command`, {
      cmd: ['true'],
      tty: true,
      size: { width: 100, height: 30 },
    });
    expect(JSON.parse(readFileSync(processFile, 'utf8'))).toMatchObject({
      terminal: true,
      consoleSize: { height: 30, width: 100 },
    });
    await removeFile(processFile);
    await expect(
      api().post(`/v1/containers/${id}/exec-command`, {
        cmd: ['true'],
        tty: true,
        size: { width: 0, height: 30 },
      }),
    ).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('"size"') });
    // With -t on a terminal of 30x100, the command's first look at its terminal sees that size
    // (the container terminal starts with the caller's size, not 0x0 until runc copies it).
    const onTerminal = await execFile(
      'script',
      [
        '-qec',
        `stty rows 30 cols 100; exec ${[process.execPath, BERTH_CLI, '--socket', env.berthd.socket, 'exec', '-t', id, 'busybox', 'stty', 'size'].map((w) => `'${w}'`).join(' ')}`,
        '/dev/null',
      ],
      { env: testEnv() },
    );
    expect(onTerminal.replace(/\r/g, '')).toBe('30 100\n');

    // CPU quota and pids limit are in the container's cgroup files.
    const [pids] = cgroupsOf(id).filter((p) => p.includes('/pids/'));
    expect(pids && readFileSync(`${pids}/pids.max`, 'utf8').trim()).toBe('64');
    const [cpu] = cgroupsOf(id).filter((p) => p.includes('/cpu/'));
    expect(cpu && readFileSync(`${cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');

    const logs = await cli('logs', id);
    expect(logs.stdout).toBe('started\n');
    const tail = await cli('logs', '--tail', '0', id);
    expect(tail.stdout).toBe('');
    const stats = JSON.parse((await cli('stats', id, '--json')).stdout) as {
      pidsCurrent: number;
      memoryWorkingSetBytes: number;
    }[];
    expect(stats[0]!.pidsCurrent).toBeGreaterThanOrEqual(1);
    expect((await cli('stats', id)).stdout).toMatch(/MEM WORKING SET/);

    // sleep as PID 1 ignores SIGTERM: stop kills it after the grace period.
    const stop = await cli('stop', '-t', '1', id, '--json');
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
    expect((await cli('ps')).stdout).not.toContain(id.slice(0, 12));
    expect((await cli('ps', '-a')).stdout).toContain('exited (137)');
    // The exit monitor gives back what the exited container no longer needs (as containerd
    // deletes a task at exit): its cgroups and rootfs mount; its record and log stay until rm.
    await expect.poll(() => cgroupsOf(id), { timeout: 10_000 }).toEqual([]);
    await expect
      .poll(() => mountsUnder(`${env.berthd.state}/containers/${id}`), { timeout: 10_000 })
      .toEqual([]);
    expect(JSON.parse((await cli('inspect', id)).stdout)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect((await cli('logs', id)).stdout).toBe('started\n');
    const rm = await cli('rm', id);
    expect(rm).toMatchObject({ code: 0, stdout: `${id}\n` });
    const topics = (await eventsOf(id)).map((e) => e.topic);
    // berth exec, exec -i and exec -t: added, started, exited (the last two run the runtime in the
    // CLI: berthd sees the pid file and the CLI reports the exit); the exec-command asked for above
    // and never run: only added.
    const execTopics = topics.filter((t) => t.startsWith('/tasks/exec-'));
    const triple = ['/tasks/exec-added', '/tasks/exec-started', '/tasks/exec-exited'];
    expect(execTopics).toEqual([...triple, ...triple, '/tasks/exec-added', ...triple]);
    // The stop asked (and its SIGKILL when the grace period ran out) before the exit it caused.
    expect(topics.filter((t) => !execTopics.includes(t))).toEqual([
      '/containers/create',
      '/tasks/create',
      '/tasks/start',
      '/tasks/stop-requested',
      '/tasks/kill-requested',
      '/tasks/exit',
      '/tasks/delete',
      '/containers/delete',
    ]);
    expect(cgroupsOf(id)).toEqual([]);
  }, 120_000);

  it('rm refuses a running container without -f, and -f kills and removes it', async () => {
    const id = await runDetached(env.image, 'sleep', '1000');
    const refused = await cli('rm', id);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is running: stop it first or remove it with force/);
    expect((await cli('rm', '-f', id)).code).toBe(0);
    expect(conmonsUnder(env.berthd.state)).toEqual([]);
  }, 60_000);
});

/**
 * The stop workflow's history: workflow tasks the server refused (a signal landing during local
 * steps makes it refuse one, and those steps run again) and the local steps it recorded.
 */
async function stopHistory(
  id: string,
): Promise<{ failedTasks: number; signals: number; localSteps: number }> {
  const info = await env.berthd.client.get<NodeInfo>('/v1/info');
  const connection = await Connection.connect({ address: info.services[0]!.address });
  try {
    const history = await new Client({ connection }).workflow
      .getHandle(containerWorkflowIds.stop(id))
      .fetchHistory();
    const events = history.events ?? [];
    return {
      failedTasks: events.filter((e) => e.workflowTaskFailedEventAttributes).length,
      signals: events.filter((e) => e.workflowExecutionSignaledEventAttributes).length,
      localSteps: events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
        .length,
    };
  } finally {
    await connection.close();
  }
}

/** `run -d` arguments: a shell that runs `command` on SIGTERM and otherwise loops. */
function onTerm(command: string): string[] {
  return [env.image, 'sh', '-c', `trap "${command}" TERM; echo ready; while true; do sleep 0.1; done`];
}

describe('stop with a grace period', () => {
  it('a process that handles SIGTERM exits with its own code before the timeout', async () => {
    const id = await runDetached(...onTerm('exit 7'));
    const r = await cli('stop', '-t', '60', id, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'exited', exitCode: 7 });
    const exits = (await eventsOf(id)).filter((e) => e.topic === '/tasks/exit');
    expect(exits).toHaveLength(1);
    expect(exits[0]!.data).toMatchObject({ exitCode: 7, oomKilled: false });
    // The exit came within the quick local wait: the exit monitor held its signal, so the one
    // workflow task ran the signal and the wait once (a signal meanwhile made the server refuse it).
    expect(await stopHistory(id)).toEqual({ failedTasks: 0, signals: 0, localSteps: 2 });
    await cli('rm', id);
  }, 120_000);

  it('an exit after the quick local wait ends the durable wait through the exit signal', async () => {
    const id = await runDetached(...onTerm('sleep 3; exit 7'));
    const t0 = performance.now();
    const r = await cli('stop', '-t', '120', id, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'exited', exitCode: 7 });
    // Woken by the signal (about 3 s), not by the end of the 120 s grace period.
    expect(performance.now() - t0).toBeLessThan(60_000);
    expect(await stopHistory(id)).toMatchObject({ failedTasks: 0, signals: 1 });
    await cli('rm', id);
  }, 180_000);

  it("stop thaws a paused container first, also one paused behind Berth's back", async () => {
    const byBerth = await runDetached(...onTerm('exit 7'));
    const behind = await runDetached(...onTerm('exit 7'));
    expect((await cli('pause', byBerth)).code).toBe(0);
    await execFile('runc', ['--root', `${env.berthd.state}/runc`, 'pause', behind]);
    for (const id of [byBerth, behind]) {
      const r = await cli('stop', '-t', '30', id, '--json');
      expect(JSON.parse(r.stdout)).toMatchObject({ state: 'exited', exitCode: 7 });
      await cli('rm', id);
    }
  }, 120_000);

  it('a process that ignores SIGTERM is killed after the grace period', async () => {
    const id = await runDetached(env.image, 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done');
    const r = await cli('stop', '-t', '2', id, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'exited', exitCode: 137 });
    // A second stop of an exited container is a no-op with the same answer.
    const again = await cli('stop', id, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect((await eventsOf(id)).filter((e) => e.topic === '/tasks/exit')).toHaveLength(1);
    await cli('rm', id);
  }, 120_000);
});

describe('limits and isolation, checked from inside', () => {
  it('a container allocating past its memory limit is OOM-killed: /tasks/oom and exit 137', async () => {
    const r = await cli(
      'run',
      '--memory',
      '16m',
      env.image,
      'dd',
      'if=/dev/zero',
      'of=/dev/null',
      'bs=64M',
      'count=1',
    );
    expect(r.code).toBe(137);
    const list = await api().get<ContainerStatus[]>('/v1/containers?state=exited');
    const c = list.find((x) => x.exitCode === 137 && x.reason === 'OOMKilled');
    expect(c).toBeDefined();
    const topics = (await eventsOf(c!.id)).map((e) => e.topic);
    expect(topics).toContain('/tasks/oom');
    await cli('rm', c!.id);
  }, 60_000);

  it('user and groups from the image, capabilities, read-only rootfs and seccomp', async () => {
    const user = await cli('run', '--rm', '-u', 'app', env.image, 'id');
    expect(user.stdout.trim()).toBe('uid=1000(app) gid=1000(app) groups=2000(extra)');
    const caps = await cli('run', '--rm', env.image, 'grep', 'CapEff', '/proc/self/status');
    // The default set (containerd's 14 capabilities): chown, dac_override, fowner, fsetid, kill,
    // setgid, setuid, setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap.
    expect(caps.stdout.trim()).toBe('CapEff:\t00000000a80425fb');
    const dropped = await cli(
      'run',
      '--rm',
      '--cap-drop',
      'ALL',
      '--cap-add',
      'NET_RAW',
      env.image,
      'grep',
      'CapEff',
      '/proc/self/status',
    );
    expect(dropped.stdout.trim()).toBe('CapEff:\t0000000000002000');
    const ro = await cli(
      'run',
      '--rm',
      '--read-only',
      env.image,
      'sh',
      '-c',
      'touch /x || echo refused; touch /tmp/x 2>&1 | head -c 0; echo done',
    );
    expect(ro.stdout).toContain('refused');
    const sec = await cli('run', '--rm', env.image, 'grep', '^Seccomp:', '/proc/self/status');
    expect(sec.stdout.trim()).toBe('Seccomp:\t2');
    const unconfined = await cli(
      'run',
      '--rm',
      '--security-opt',
      'seccomp=unconfined',
      env.image,
      'grep',
      '^Seccomp:',
      '/proc/self/status',
    );
    expect(unconfined.stdout.trim()).toBe('Seccomp:\t0');
  }, 120_000);
});

describe('bad input: a clear error and nothing created', () => {
  const before = async () => ({
    containers: (await api().get<ContainerStatus[]>('/v1/containers')).length,
    conmons: conmonsUnder(env.berthd.state).length,
    mounts: mountsUnder(`${env.berthd.state}/containers`).length,
    dirs: existsSync(`${env.berthd.state}/containers`) ? readdirSync(`${env.berthd.state}/containers`) : [],
  });

  it.each([
    ['an unknown image', ['127.0.0.1:1/none/such:latest', 'true'], /127\.0\.0\.1:1/],
    [
      'an invalid mount source',
      ['-v', '/no/such/dir:/data', 'IMAGE', 'true'],
      /mounts\[0\]\.hostPath: \/no\/such\/dir does not exist/,
    ],
    [
      'a cwd that is a file',
      ['-w', '/etc/notadir', 'IMAGE', 'true'],
      /workingDir: "\/etc\/notadir" exists in the image but is not a directory/,
    ],
    [
      'an unknown RuntimeClass',
      ['--runtime', 'nope', 'IMAGE', 'true'],
      /runtime handler "nope" is not configured/,
    ],
  ])(
    '%s',
    async (_what, args, message) => {
      const b = await before();
      const r = await cli('run', '--rm', ...args.map((a) => (a === 'IMAGE' ? env.image : a)));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      const list = await api().get<ContainerStatus[]>('/v1/containers');
      expect(list.length).toBe(b.containers);
      expect(conmonsUnder(env.berthd.state).length).toBe(b.conmons);
      expect(mountsUnder(`${env.berthd.state}/containers`).length).toBe(b.mounts);
      const dir = `${env.berthd.state}/containers`;
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual(b.dirs);
    },
    60_000,
  );

  it.each([
    [{ namespace: '../etc' }, /namespace "\.\.\/etc" is invalid/],
    [{ attempt: -1 }, /attempt: -1 is not a whole number from 0/],
    [{ attempt: 1.5 }, /attempt: 1\.5 is not a whole number from 0/],
    [{ logPath: '/var/log/../../etc/passwd' }, /logPath: .* must not contain "\.\." or NUL/],
    [{ logPath: 'relative.log' }, /logPath: "relative\.log" is not an absolute path/],
    [{ labels: { app: 3 } }, /labels\.app: must be a string, got 3/],
    [{ labels: ['a'] }, /labels: must be an object of string values/],
    [
      { binds: [{ hostPath: '/tmp', containerPath: '/data/../../x' }] },
      /binds\[0\]\.containerPath: .* must not contain/,
    ],
    [
      { binds: [{ hostPath: '/tmp', containerPath: 'data' }] },
      /binds\[0\]\.containerPath: "data" is not an absolute path/,
    ],
    [{ env: [{ key: 'A' }] }, /env\[0\]: must be \{"key": non-empty string, "value": string\}/],
  ])(
    'POST /v1/containers with %j: invalid_argument naming the field, nothing created',
    async (fields, message) => {
      const b = await before();
      const err = (await api()
        .post('/v1/containers', { name: 'bad-fields', image: env.image, ...fields })
        .catch((e: unknown) => e)) as { code?: string; message?: string };
      expect(err.code).toBe('invalid_argument');
      expect(err.message).toMatch(message);
      expect((await api().get<ContainerStatus[]>('/v1/containers')).length).toBe(b.containers);
      expect(conmonsUnder(env.berthd.state).length).toBe(b.conmons);
    },
  );

  it('GET /v1/containers?state= refuses a state that does not exist instead of listing nothing', async () => {
    const err = (await api()
      .get('/v1/containers', { state: 'runing' })
      .catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toMatch(
      /state "runing" is not a container state \(created, running, paused, exited, unknown\)/,
    );
    expect(Array.isArray(await api().get('/v1/containers', { state: 'running' }))).toBe(true);
  });

  it.each([['inspect'], ['stop'], ['rm'], ['logs'], ['exec']])(
    '%s of an unknown container id',
    async (verb) => {
      const r = await cli(verb, 'feedface', ...(verb === 'exec' ? ['true'] : []));
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/container "feedface" not found/);
    },
  );
});

describe('crun', () => {
  it('runs echo hi, or refuses with the host reason', async () => {
    const r = await cli('run', '--rm', '--runtime', 'crun', env.image, 'echo', 'hi');
    if (r.code === 0) expect(r.stdout).toBe('hi\n');
    else expect(r.stderr).toMatch(/crun/);
    const crun = (await api().get<ContainerStatus[]>('/v1/containers')).filter((c) => c.runtime === 'crun');
    expect(crun).toEqual([]);
  }, 60_000);
});

describe('berth run --pod', () => {
  it('runs the container in a sandbox of its own (hostname, CNI network) and --rm removes both', async () => {
    // The CNI bridge's isGateway turns ip_forward on: put back what the host had.
    const forward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    try {
      const r = await cli(
        'run',
        '--rm',
        '--pod',
        '--name',
        'podded',
        env.image,
        'sh',
        '-c',
        'cat /etc/hostname; grep -c eth0: /proc/net/dev',
      );
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('podded\n1\n');
      expect(r.code).toBe(0);
      expect(await api().get<unknown[]>('/v1/sandboxes')).toEqual([]);
      expect(
        (await api().get<ContainerStatus[]>('/v1/containers')).filter((c) => c.name === 'podded'),
      ).toEqual([]);
    } finally {
      await writeFile('/proc/sys/net/ipv4/ip_forward', forward);
    }
  }, 120_000);
});

describe('a running task: pause, update, logs and rotation', () => {
  it('pause freezes and unpause thaws; update changes the cgroup limit (all recorded)', async () => {
    const id = await runDetached(env.image, 'sleep', '1000');
    const paused = await cli('pause', id, '--json');
    expect(JSON.parse(paused.stdout)).toMatchObject({ state: 'paused' });
    const [freezer] = cgroupsOf(id).filter((p) => p.includes('/freezer/'));
    expect(readFileSync(`${freezer}/freezer.state`, 'utf8').trim()).toBe('FROZEN');
    const refused = await cli('exec', id, 'true');
    expect(refused.stderr).toMatch(/is paused, not running/);
    expect(JSON.parse((await cli('unpause', id, '--json')).stdout)).toMatchObject({ state: 'running' });
    expect(readFileSync(`${freezer}/freezer.state`, 'utf8').trim()).toBe('THAWED');
    await api().post(`/v1/containers/${id}/update`, { memoryLimitBytes: 48 * 1024 * 1024 });
    const [memory] = cgroupsOf(id).filter((p) => p.includes('/memory/'));
    expect(readFileSync(`${memory}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(48 * 1024 * 1024));
    const events = await eventsOf(id);
    expect(events.map((e) => e.topic)).toEqual([
      '/containers/create',
      '/tasks/create',
      '/tasks/start',
      '/tasks/paused',
      '/tasks/resumed',
      '/containers/update',
    ]);
    expect(events.at(-1)!.data).toMatchObject({ resources: { memoryLimitBytes: 48 * 1024 * 1024 } });
    await cli('rm', '-f', id);
  }, 60_000);

  it('logs -f follows until the container exits; --since in the future prints nothing', async () => {
    const id = await runDetached(
      env.image,
      'sh',
      '-c',
      'echo one; sleep 1; echo two >&2; sleep 1; echo three',
    );
    const followed = await cli('logs', '-f', id, '--json');
    const lines = followed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stream: string; text: string });
    expect(lines.map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'one'],
      ['stderr', 'two'],
      ['stdout', 'three'],
    ]);
    const future = await cli('logs', '--since', new Date(Date.now() + 3_600_000).toISOString(), id);
    expect(future.stdout).toBe('');
    expect((await cli('logs', '--tail', '1', id)).stdout).toBe('three\n');
    await cli('rm', id);
  }, 60_000);

  it('reopen-log: after the log file is moved away, conmon writes to a new one', async () => {
    const id = await runDetached(
      env.image,
      'sh',
      '-c',
      'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done',
    );
    const st = await api().get<ContainerStatus>(`/v1/containers/${id}`);
    const log = st.logPath!;
    await new Promise((r) => setTimeout(r, 300));
    await rename(log, `${log}.1`);
    await api().post(`/v1/containers/${id}/reopen-log`);
    // Bounded wait for the first line in the new file.
    for (let n = 0; n < 50 && !(existsSync(log) && readFileSync(log, 'utf8').includes(' stdout F line')); n++)
      await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(log, 'utf8')).toMatch(/ stdout F line \d+/);
    expect(readFileSync(`${log}.1`, 'utf8')).toMatch(/ stdout F line 0\n/);
    await cli('rm', '-f', id);
  }, 60_000);
});

describe('names', () => {
  it('a name in use is refused by berth run; once removed it can be used again', async () => {
    const id = await runDetached('--name', 'dup', env.image, 'sleep', '1000');
    const again = await cli('run', '-d', '--name', 'dup', env.image, 'true');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(new RegExp(`name "dup" is already in use by container ${id}`));
    // The API without `exclusive` answers a repeated create with the container it made.
    const same = await api().post<ContainerStatus>('/v1/containers', { name: 'dup', image: env.image });
    expect(same.id).toBe(id);
    await cli('rm', '-f', id);
    const reused = await cli('run', '--rm', '--name', 'dup', env.image, 'echo', 'again');
    expect(reused).toMatchObject({ code: 0, stdout: 'again\n' });
  }, 60_000);
});
