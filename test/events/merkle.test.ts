/** The RFC 6962 tree: hand-computed small trees, every proof up to 64 leaves, and the compact range. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  EMPTY_ROOT,
  arrayHasher,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../src/events/merkle.js';

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from([i])));
const flip = (b: Buffer, bit = 0) => {
  const c = Buffer.from(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};

describe('merkle tree hashing', () => {
  it('hashes leaves and nodes with the RFC 6962 prefixes', () => {
    expect(leafHash(Buffer.from('x'))).toEqual(sha(Buffer.from([0]), Buffer.from('x')));
    const a = leafHash(Buffer.from('a'));
    const b = leafHash(Buffer.from('b'));
    expect(nodeHash(a, b)).toEqual(sha(Buffer.from([1]), a, b));
    expect(EMPTY_ROOT.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('splits a tree of 3 and of 5 leaves at the largest power of two below', () => {
    const [a, b, c, d, e] = leaves(5) as [Buffer, Buffer, Buffer, Buffer, Buffer];
    expect(rootOfLeaves([a, b, c])).toEqual(nodeHash(nodeHash(a, b), c));
    expect(rootOfLeaves([a, b, c, d, e])).toEqual(nodeHash(nodeHash(nodeHash(a, b), nodeHash(c, d)), e));
  });

  it('matches the empty-string RFC 6962 test vector for one leaf', () => {
    // Certificate Transparency's reference: the root of one empty leaf.
    expect(rootOfLeaves([leafHash(Buffer.alloc(0))]).toString('hex')).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
  });

  it('keeps the compact range root equal to the recursive root at every size, and reports completed subtrees', () => {
    const all = leaves(130);
    const range = CompactRange.empty();
    const heights: number[] = [];
    for (let n = 1; n <= all.length; n++) {
      range.append(all[n - 1]!, (h, i, hash) => {
        if (h === 2) {
          heights.push(i);
          expect(hash).toEqual(rootOfLeaves(all.slice(i * 4, i * 4 + 4)));
        }
      });
      expect(range.root()).toEqual(rootOfLeaves(all.slice(0, n)));
      const again = CompactRange.fromHex(range.size, range.toHex());
      expect(again.root()).toEqual(range.root());
    }
    expect(heights).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(() => CompactRange.fromHex(3, ['00'.repeat(32)])).toThrow(/3 leaves has 2 edge nodes/);
  });
});

describe('inclusion proofs', () => {
  it('verifies every index of every size up to 64, and fails a flipped bit or a wrong index', () => {
    const all = leaves(64);
    for (let size = 1; size <= 64; size++) {
      const tree = all.slice(0, size);
      const root = rootOfLeaves(tree);
      const mth = arrayHasher(tree);
      for (let i = 0; i < size; i++) {
        const path = inclusionProof(i, size, mth);
        expect(verifyInclusion(i, size, tree[i]!, path, root)).toBe(true);
        expect(verifyInclusion(i, size, flip(tree[i]!), path, root)).toBe(false);
        expect(verifyInclusion(i, size, tree[i]!, path, flip(root, 255))).toBe(false);
        if (path.length > 0) {
          expect(verifyInclusion(i, size, tree[i]!, [flip(path[0]!), ...path.slice(1)], root)).toBe(false);
          expect(verifyInclusion(i, size, tree[i]!, path.slice(1), root)).toBe(false);
        }
        if (size > 1) expect(verifyInclusion((i + 1) % size, size, tree[i]!, path, root)).toBe(false);
      }
      expect(verifyInclusion(size, size, tree[0]!, [], root)).toBe(false);
    }
  });

  it('refuses to build a proof for an index beyond the tree', () => {
    expect(() => inclusionProof(5, 5, arrayHasher(leaves(5)))).toThrow(/not in a tree of 5/);
  });
});

describe('consistency proofs', () => {
  it('verifies every old <= new <= 64, and fails tampered roots and paths', () => {
    const all = leaves(64);
    const roots = [EMPTY_ROOT, ...all.map((_, i) => rootOfLeaves(all.slice(0, i + 1)))];
    for (let size = 1; size <= 64; size++) {
      const mth = arrayHasher(all.slice(0, size));
      for (let old = 1; old <= size; old++) {
        const path = consistencyProof(old, size, mth);
        expect(verifyConsistency(old, size, roots[old]!, roots[size]!, path)).toBe(true);
        expect(verifyConsistency(old, size, flip(roots[old]!), roots[size]!, path)).toBe(false);
        expect(verifyConsistency(old, size, roots[old]!, flip(roots[size]!), path)).toBe(false);
        if (path.length > 0)
          expect(
            verifyConsistency(old, size, roots[old]!, roots[size]!, [flip(path[0]!), ...path.slice(1)]),
          ).toBe(false);
        if (old < size) expect(verifyConsistency(old, size, roots[old]!, roots[size]!, [])).toBe(false);
      }
    }
  });

  it('matches the hand-built proof from 3 to 7 leaves (RFC 6962 §2.1.3 example)', () => {
    const l = leaves(7);
    const mth = arrayHasher(l);
    const [a, b, c, d, e, f, g] = l as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    // PROOF(3, D[7]) = [c, d, g(a,b), h(e,f,g)]
    expect(consistencyProof(3, 7, mth)).toEqual([c, d, nodeHash(a, b), nodeHash(nodeHash(e, f), g)]);
    // PATH(0, D[7]) = [b, h(c,d), h(e,f,g)]
    expect(inclusionProof(0, 7, mth)).toEqual([b, nodeHash(c, d), nodeHash(nodeHash(e, f), g)]);
  });
});
