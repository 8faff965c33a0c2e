import { describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { criuErrors, runtimeErrorText } from '../../src/runtime/conmon.js';
import { execProcess } from '../../src/runtime/exec.js';
import { CrunHandler, HandlerRegistry, RuncHandler, RunscHandler } from '../../src/runtime/handler.js';
import type { OciProcess } from '../../src/runtime/oci-types.js';

describe('runtime error text', () => {
  it('keeps runc error lines and drops its warnings', () => {
    const raw =
      'time="2026-11-23T08:35:56Z" level=warning msg="unable to get oom kill count"\n' +
      'time="2026-11-23T08:35:56Z" level=error msg="runc create failed: failed to write \\"99\\": out of range"\n';
    expect(runtimeErrorText(raw)).toBe('runc create failed: failed to write "99": out of range');
  });
  it('falls back to the raw text, whitespace collapsed', () => {
    expect(runtimeErrorText('  crun: something\n  broke ')).toBe('crun: something broke');
  });
});

describe('exec process', () => {
  const base: OciProcess = {
    terminal: false,
    user: { uid: 1000, gid: 1000 },
    args: ['sleep', '60'],
    env: ['PATH=/bin', 'A=1'],
    cwd: '/srv',
    noNewPrivileges: true,
    oomScoreAdj: 5,
  };
  it('inherits user, env and cwd, overrides args and env entries, drops oomScoreAdj', () => {
    const p = execProcess(base, { args: ['ls'], env: ['A=2', 'B=3'] });
    expect(p).toEqual({
      terminal: false,
      user: { uid: 1000, gid: 1000 },
      args: ['ls'],
      env: ['PATH=/bin', 'A=2', 'B=3'],
      cwd: '/srv',
      noNewPrivileges: true,
    });
  });
  it('rejects empty args and a relative cwd', () => {
    expect(() => execProcess(base, { args: [] })).toThrow(InvalidArgumentError);
    expect(() => execProcess(base, { args: ['ls'], cwd: 'tmp' })).toThrow(/cwd "tmp"/);
  });
});

describe('handler registry', () => {
  const registry = new HandlerRegistry([new RuncHandler({ root: '/tmp/x' })]);
  it('maps an empty RuntimeClass to the default handler', () => {
    expect(registry.get(undefined).name).toBe('runc');
    expect(registry.get('').name).toBe('runc');
  });
  it('names the unknown handler and the known ones', () => {
    expect(() => registry.get('gvisor')).toThrow(NotFoundError);
    expect(() => registry.get('gvisor')).toThrow(/"gvisor" is not configured \(known: runc\)/);
  });
});

describe('checkpoints', () => {
  const paths = { imagePath: '/tmp/x/checkpoint', workPath: '/tmp/x/work' };

  it('are refused by handlers without them, and by runc without CRIU, naming what is missing', async () => {
    for (const h of [
      new CrunHandler({ root: '/tmp/x', wrapperDir: '/tmp/x' }),
      new RunscHandler({ root: '/tmp/x' }),
    ]) {
      await expect(h.checkpoint('c1', paths)).rejects.toThrow(FailedPreconditionError);
      await expect(h.checkpoint('c1', paths)).rejects.toThrow(
        `runtime handler ${h.name} does not checkpoint containers (container c1); runc does, with CRIU`,
      );
    }
    await expect(new RuncHandler({ root: '/tmp/x', criu: 'criu' }).checkpoint('c1', paths)).rejects.toThrow(
      'runc checkpoint c1: CRIU was not found on PATH',
    );
  });

  it('run CRIU from its folder and without hardware breakpoints, which some VMs never deliver; restores too', () => {
    const runc = new RuncHandler({ root: '/tmp/x', criu: '/opt/tools/bin/criu' });
    const env = runc.restoreEnv();
    expect(env.PATH?.split(':')[0]).toBe('/opt/tools/bin');
    expect(env.CRIU_FAULT).toBe('130');
    expect(new RuncHandler({ root: '/tmp/x', criu: 'criu' }).restoreEnv()).toEqual({});
    expect(new RunscHandler({ root: '/tmp/x' }).restoreEnv()).toEqual({});
  });

  it("take CRIU's errors from its log, without the rlimit one it prints in every container", () => {
    const log = [
      "(00.037621) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
      '(00.152307) Error (criu/sk-inet.c:191): inet: Connected TCP socket, consider using --tcp-established option.',
      '(00.152326) Error (criu/cr-dump.c:1681): Dump files (pid: 25783) failed with -1',
      '(00.231180) Error (criu/cr-dump.c:2111): Dumping FAILED.',
    ].join('\n');
    expect(criuErrors(log)).toEqual([
      'inet: Connected TCP socket, consider using --tcp-established option.',
      'Dump files (pid: 25783) failed with -1',
    ]);
  });
});
