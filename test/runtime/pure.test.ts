import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { runtimeErrorText } from '../../src/runtime/conmon.js';
import { execProcess } from '../../src/runtime/exec.js';
import { HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
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
