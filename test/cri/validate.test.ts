import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { requireId, validateCpuList, validateResources, type WireResources } from '../../src/cri/validate.js';

const none: WireResources = {
  cpu_period: 0,
  cpu_quota: 0,
  cpu_shares: 0,
  memory_limit_in_bytes: 0,
  oom_score_adj: 0,
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [],
  unified: {},
  memory_swap_limit_in_bytes: 0,
};

describe('requireId', () => {
  it('accepts ids and prefixes made of letters, digits, dot, dash, underscore', () => {
    for (const id of ['a', 'abc123', 'f'.repeat(64), 'pod_1.x-y']) expect(requireId('id', id)).toBe(id);
  });

  it('refuses empty ids, separators and leading dots or dashes, naming the field', () => {
    for (const id of ['', '.', '..', '-x', 'a/b', 'a b', 'a\0b', 'x'.repeat(254)]) {
      expect(() => requireId('container_id', id)).toThrow(InvalidArgumentError);
      expect(() => requireId('container_id', id)).toThrow(/^container_id /);
    }
  });
});

describe('validateCpuList', () => {
  it('accepts lists and ascending ranges', () => {
    for (const v of ['', '0', '0-3', '0,2,4-7']) expect(validateCpuList('f', v)).toBe(v);
  });

  it('refuses malformed lists and descending ranges', () => {
    for (const v of ['a', '0-', '1,,2', '3-1', ' 1'])
      expect(() => validateCpuList('cpuset', v)).toThrow(/cpuset/);
  });
});

describe('validateResources', () => {
  it('accepts unset resources and the unlimited markers', () => {
    expect(() => validateResources('r', none)).not.toThrow();
    expect(() =>
      validateResources('r', { ...none, cpu_quota: -1, memory_swap_limit_in_bytes: -1, oom_score_adj: -998 }),
    ).not.toThrow();
    expect(() =>
      validateResources('r', {
        ...none,
        cpu_period: 100_000,
        cpu_quota: 1_000,
        cpu_shares: 2,
        memory_limit_in_bytes: 1 << 20,
        memory_swap_limit_in_bytes: 1 << 20,
        hugepage_limits: [{ page_size: '2MB', limit: 0 }],
        unified: { 'memory.high': '1000000' },
      }),
    ).not.toThrow();
  });

  const impossible: [string, Partial<WireResources>][] = [
    ['cpu_period', { cpu_period: 999 }],
    ['cpu_period', { cpu_period: 1_000_001 }],
    ['cpu_quota', { cpu_quota: -2 }],
    ['cpu_quota', { cpu_quota: 999 }],
    ['cpu_shares', { cpu_shares: 1 }],
    ['cpu_shares', { cpu_shares: 262_145 }],
    ['memory_limit_in_bytes', { memory_limit_in_bytes: -1 }],
    ['memory_swap_limit_in_bytes', { memory_swap_limit_in_bytes: -2 }],
    ['memory_swap_limit_in_bytes', { memory_limit_in_bytes: 2000, memory_swap_limit_in_bytes: 1000 }],
    ['oom_score_adj', { oom_score_adj: -1001 }],
    ['hugepage_limits[0].page_size', { hugepage_limits: [{ page_size: '2M', limit: 1 }] }],
    ['unified', { unified: { 'memory/../../x': '1' } }],
    ['unified', { unified: { cgroup: '1' } }],
  ];
  for (const [field, change] of impossible) {
    it(`refuses ${JSON.stringify(change)} naming ${field}`, () => {
      expect(() => validateResources('linux', { ...none, ...change })).toThrow(`linux.${field}`);
    });
  }
});
