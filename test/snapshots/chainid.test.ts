import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { chainIds } from '../../src/snapshots/index.js';

const d = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex');

describe('chainIds', () => {
  it('is the diff id for the first layer and sha256("<prev chain id> <diff id>") after it, as the OCI spec defines', () => {
    const [a, b, c] = [d('a'), d('b'), d('c')];
    const ab = d(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, d(`${ab} ${c}`)]);
  });

  it('gives images that share base layers the same chain ids for them', () => {
    const base = [d('base0'), d('base1')];
    const one = chainIds([...base, d('app1')]);
    const two = chainIds([...base, d('app2')]);
    expect(one.slice(0, 2)).toEqual(two.slice(0, 2));
    expect(one[2]).not.toEqual(two[2]);
  });

  it('refuses a diff id that is not a sha256 digest, naming it', () => {
    expect(() => chainIds(['md5:abc'])).toThrow(InvalidArgumentError);
    expect(() => chainIds(['md5:abc'])).toThrow(/md5:abc/);
  });
});
