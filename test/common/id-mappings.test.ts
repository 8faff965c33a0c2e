import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { checkIdMappings, hostIdOf, procMapText, type IdMapping } from '../../src/common/id-mappings.js';

const m = (containerId: number, hostId: number, size: number): IdMapping => ({ containerId, hostId, size });
const check = (uids: IdMapping[], gids: IdMapping[] = [m(0, 100000, 65536)]) =>
  checkIdMappings('userns', { uids, gids });

describe('user namespace id mappings', () => {
  it("accepts kubelet's one range and several disjoint ones", () => {
    expect(check([m(0, 65536, 65536)]).uids).toEqual([m(0, 65536, 65536)]);
    expect(() => check([m(1000, 201000, 10), m(0, 200000, 1000)])).not.toThrow();
  });

  it.each([
    ['no mapping', [], 'userns.uids: at least one mapping is required'],
    ['an empty range', [m(0, 100000, 0)], 'userns.uids[0].size: a mapping of 0 ids maps nothing'],
    ['a negative id', [m(0, -1, 10)], 'userns.uids[0].hostId: -1 is not a non-negative integer'],
    ['a fraction', [m(0, 1.5, 10)], 'userns.uids[0].hostId: 1.5 is not a non-negative integer'],
    [
      'past 32 bits',
      [m(0, 4294967000, 65536)],
      'userns.uids[0]: 65536 ids from 0 (inside) or 4294967000 (host) exceed',
    ],
    [
      'overlap inside',
      [m(0, 100000, 100), m(50, 300000, 100)],
      'userns.uids[1] overlaps userns.uids[0] on the container side',
    ],
    [
      'overlap on the host',
      [m(0, 100000, 100), m(100, 100050, 100)],
      'userns.uids[1] overlaps userns.uids[0] on the host side',
    ],
    ['root unmapped', [m(1, 100000, 100)], "userns.uids: id 0 (the container's root) is not mapped"],
  ])('refuses %s, naming the field', (_name, uids, message) => {
    expect(() => check(uids)).toThrow(InvalidArgumentError);
    expect(() => check(uids)).toThrow(message);
  });

  it('checks the gids as the uids', () => {
    expect(() => check([m(0, 100000, 10)], [m(5, 100000, 10)])).toThrow('userns.gids: id 0');
  });

  it('maps container ids to host ids and writes the proc map format', () => {
    const list = [m(0, 100000, 1000), m(1000, 500000, 10)];
    expect([hostIdOf(list, 0), hostIdOf(list, 999), hostIdOf(list, 1005), hostIdOf(list, 1010)]).toEqual([
      100000,
      100999,
      500005,
      undefined,
    ]);
    expect(procMapText(list)).toBe('0 100000 1000\n1000 500000 10\n');
  });
});
