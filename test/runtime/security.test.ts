import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilitiesFromMask, detectHostFacts } from '../../src/runtime/host.js';
import type { ContainerRequest } from '../../src/runtime/spec.js';
import { logLines, runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('sec');
});

afterAll(async () => {
  await fx.cleanup();
});

/** Runs a short container to completion; returns its exit code and stdout/stderr lines. */
async function runToExit(
  script: string,
  extra: Partial<ContainerRequest> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const id = uniqueId('sec');
  await fx.run(id, { command: ['sh', '-c', script], ...extra });
  const exit = await fx.manager.wait(id, 20_000);
  const log = await fx.logText(id);
  await fx.manager.delete(id);
  return { code: exit?.exitCode ?? -1, out: logLines(log, 'stdout'), err: logLines(log, 'stderr') };
}

function capEff(lines: string[]): Set<string> {
  const line = lines.find((l) => l.startsWith('CapEff:'));
  return capabilitiesFromMask(line?.split(/\s+/)[1] ?? '0');
}

describe('isolation checked from inside the container', () => {
  it('runs as the image user with its groups', async () => {
    const r = await runToExit('id', { user: 'user', supplementalGroups: [4242] });
    expect(r.out).toEqual(['uid=1000(user) gid=1000(user) groups=50(staff),4242']);
  });

  it('runs as a numeric uid:gid absent from /etc/passwd', async () => {
    const r = await runToExit('id -u; id -g', { user: '3000:3001' });
    expect(r.out).toEqual(['3000', '3001']);
  });

  it('holds the default capability set, and add/drop change it', async () => {
    const dflt = capEff((await runToExit('cat /proc/self/status')).out);
    expect(dflt.has('CAP_CHOWN')).toBe(true);
    expect(dflt.has('CAP_NET_ADMIN')).toBe(false);
    expect(dflt.has('CAP_SYS_ADMIN')).toBe(false);
    const changed = capEff(
      (await runToExit('cat /proc/self/status', { capabilities: { add: ['NET_ADMIN'], drop: ['CHOWN'] } }))
        .out,
    );
    expect(changed.has('CAP_NET_ADMIN')).toBe(true);
    expect(changed.has('CAP_CHOWN')).toBe(false);
    const none = capEff((await runToExit('cat /proc/self/status', { capabilities: { drop: ['ALL'] } })).out);
    expect(none.size).toBe(0);
  });

  it('dropping CHOWN makes chown fail inside', async () => {
    const r = await runToExit('touch /tmp/f && chown 1000 /tmp/f', { capabilities: { drop: ['CHOWN'] } });
    expect(r.code).not.toBe(0);
    expect(r.err.join('\n')).toMatch(/Operation not permitted/);
  });

  it('no_new_privs is set by default', async () => {
    const r = await runToExit('grep NoNewPrivs /proc/self/status');
    expect(r.out[0]).toMatch(/NoNewPrivs:\s+1/);
  });

  it('a read-only rootfs refuses writes while tmpfs mounts stay writable', async () => {
    const r = await runToExit('touch /x; echo touch=$?; touch /scratch/y; echo tmpfs=$?', {
      readonlyRootfs: true,
      tmpfs: [{ containerPath: '/scratch' }],
    });
    expect(r.out).toEqual(['touch=1', 'tmpfs=0']);
    expect(r.err.join('\n')).toMatch(/Read-only file system/);
  });

  it('the default seccomp profile denies unshare; unconfined allows it', async () => {
    const denied = await runToExit('unshare -U true; echo rc=$?');
    expect(denied.out).toEqual(['rc=1']);
    expect(denied.err.join('\n')).toMatch(/Operation not permitted/);
    expect((await runToExit('grep Seccomp: /proc/self/status')).out[0]).toMatch(/Seccomp:\s+2/);
    const allowed = await runToExit('unshare -U true; echo rc=$?', { seccomp: { kind: 'unconfined' } });
    expect(allowed.out).toEqual(['rc=0']);
  });

  it('masks and write-protects kernel paths', async () => {
    // /proc/timer_list exists on this kernel (/proc/kcore does not); masked, it reads as empty.
    const r = await runToExit(
      'wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/panic_on_oops; echo rc=$?',
    );
    expect(r.out).toEqual(['0', '0', 'rc=1']);
  });

  it('sets hostname, env, cwd, sysctls and rlimits', async () => {
    const r = await runToExit(
      'hostname; echo $FOO; pwd; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ulimit -n',
      {
        hostname: 'box1',
        env: [{ key: 'FOO', value: 'bar' }],
        workingDir: '/tmp',
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80' },
        rlimits: [{ type: 'nofile', soft: 512, hard: 1024 }],
      },
    );
    expect(r.out).toEqual(['box1', 'bar', '/tmp', '80', '512']);
  });

  it('bind mounts a host directory read-only', async () => {
    const r = await runToExit('cat /data/passwd | head -1; touch /data/new; echo rc=$?', {
      binds: [{ hostPath: `${fx.rootfs}/etc`, containerPath: '/data', readonly: true }],
    });
    expect(r.out).toEqual(['root:x:0:0:root:/root:/bin/sh', 'rc=1']);
  });

  it('a negative oom_score_adj is clamped where the host forbids it, so the container still starts', async () => {
    const host = await detectHostFacts();
    const r = await runToExit('cat /proc/self/oom_score_adj', { oomScoreAdj: -500 });
    expect(r.code).toBe(0);
    const expected = host.canLowerOomScoreAdj ? -500 : Math.max(-500, host.ownOomScoreAdj);
    expect(Number(r.out[0])).toBe(expected);
  });
});
