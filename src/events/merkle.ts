/**
 * The Merkle tree over the event log, as Certificate Transparency builds it (RFC 6962 §2.1,
 * RFC 9162 §2.1): leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right),
 * the tree of n leaves splits at the largest power of two below n. The leaf of event seq s is
 * index s-1 and its input is the 32 raw bytes of the event's chain hash.
 *
 * Everything here is pure: proofs are built from a `SubtreeHasher` that returns MTH(D[start:end])
 * however it likes (the log answers from stored chunk hashes), and verified from the proof alone.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

export const HASH_BYTES = 32;
/** MTH of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT = createHash('sha256').digest();

// Hashes run on the commit path (two per appended event), so they use the one-shot crypto.hash
// (Node >= 20.12) over reused input buffers: a Hash object per call cost about half as much again.
// Reuse is safe: the hash is synchronous and returns a new buffer.
const sha256 = (data: Buffer): Buffer =>
  typeof crypto.hash === 'function'
    ? crypto.hash('sha256', data, 'buffer')
    : createHash('sha256').update(data).digest();
const sha256Hex = (data: Buffer): string =>
  typeof crypto.hash === 'function'
    ? crypto.hash('sha256', data, 'hex')
    : createHash('sha256').update(data).digest('hex');
const leafInput = Buffer.alloc(1 + HASH_BYTES);
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeInput[0] = 1;

export function leafHash(leaf: Uint8Array): Buffer {
  if (leaf.length !== HASH_BYTES) return createHash('sha256').update(LEAF_PREFIX).update(leaf).digest();
  leafInput.set(leaf, 1);
  return sha256(leafInput);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES)
    return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return sha256(nodeInput);
}

const LEAF_PREFIX = Buffer.from([0]);
const NODE_PREFIX = Buffer.from([1]);

/** The leaf hash of an event, from its hex chain hash (64 hex digits). */
export function eventLeafHash(eventHashHex: string): Buffer {
  if (leafInput.write(eventHashHex, 1, 'hex') !== HASH_BYTES)
    return leafHash(Buffer.from(eventHashHex, 'hex'));
  return sha256(leafInput);
}

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Hex SHA-256 of 0x00 || the 32 bytes of an event's hex chain hash: the event's leaf hash, in hex. */
export function eventLeafHex(eventHashHex: string): string {
  if (leafInput.write(eventHashHex, 1, 'hex') !== HASH_BYTES)
    return leafHash(Buffer.from(eventHashHex, 'hex')).toString('hex');
  return sha256Hex(leafInput);
}

/** nodeHash over hex inputs, in hex. */
export function nodeHex(leftHex: string, rightHex: string): string {
  if (
    nodeInput.write(leftHex, 1, 'hex') !== HASH_BYTES ||
    nodeInput.write(rightHex, 1 + HASH_BYTES, 'hex') !== HASH_BYTES
  )
    return nodeHash(Buffer.from(leftHex, 'hex'), Buffer.from(rightHex, 'hex')).toString('hex');
  return sha256Hex(nodeInput);
}

/**
 * The right edge of a tree: the roots of its perfect subtrees, largest first, one per set bit of
 * `size`. Appending a leaf merges equal-sized subtrees (O(1) hashes amortised); the root folds
 * them right to left. Nodes are kept as hex strings: appends run on the commit path, and a Buffer
 * per hash (an ArrayBuffer the GC must track) cost more than the hashing.
 */
export class CompactRange {
  private constructor(
    private count: number,
    private readonly nodes: string[],
  ) {}

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** From stored hex nodes; throws when their number does not match the size's set bits. */
  static fromHex(size: number, hex: readonly string[]): CompactRange {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tree size ${size} is not valid`);
    if (hex.length !== popcount(size))
      throw new Error(`a tree of ${size} leaves has ${popcount(size)} edge nodes, not ${hex.length}`);
    for (const h of hex)
      if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h))
        throw new Error(`edge node ${JSON.stringify(h)} is not a sha256 hex`);
    return new CompactRange(size, [...hex]);
  }

  get size(): number {
    return this.count;
  }

  toHex(): string[] {
    return [...this.nodes];
  }

  clone(): CompactRange {
    return new CompactRange(this.count, [...this.nodes]);
  }

  /**
   * Appends a leaf hash. `onSubtree(height, index, hash)` hears of every perfect subtree the
   * append completes (height 0 is the leaf itself), so a caller can store the ones it indexes.
   */
  append(leaf: Buffer, onSubtree?: (height: number, index: number, hash: Buffer) => void): void {
    this.appendLeafHex(
      leaf.toString('hex'),
      onSubtree && ((height, index, hex) => onSubtree(height, index, Buffer.from(hex, 'hex'))),
    );
  }

  /** Appends the leaf of an event from its hex chain hash; `onSubtree` as for append, in hex. */
  appendEvent(eventHashHex: string, onSubtree?: (height: number, index: number, hex: string) => void): void {
    this.appendLeafHex(eventLeafHex(eventHashHex), onSubtree);
  }

  private appendLeafHex(
    leaf: string,
    onSubtree?: (height: number, index: number, hex: string) => void,
  ): void {
    let hash = leaf;
    let height = 0;
    let index = this.count;
    onSubtree?.(0, index, hash);
    while (Math.floor(this.count / 2 ** height) % 2 === 1) {
      hash = nodeHex(this.nodes.pop()!, hash);
      height++;
      index = Math.floor(index / 2);
      onSubtree?.(height, index, hash);
    }
    this.nodes.push(hash);
    this.count++;
  }

  /** MTH of the leaves so far, in hex. */
  rootHex(): string {
    if (this.nodes.length === 0) return EMPTY_ROOT.toString('hex');
    let acc = this.nodes[this.nodes.length - 1]!;
    for (let i = this.nodes.length - 2; i >= 0; i--) acc = nodeHex(this.nodes[i]!, acc);
    return acc;
  }

  /** MTH of the leaves so far. */
  root(): Buffer {
    return Buffer.from(this.rootHex(), 'hex');
  }
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) c += v % 2;
  return c;
}

/** MTH(D[start:end]) for 0 ≤ start < end ≤ the tree's size. */
export type SubtreeHasher = (start: number, end: number) => Buffer;

/** MTH over a list of leaf hashes (recursive split; for tests and small trees). */
export function rootOfLeaves(leaves: readonly Buffer[]): Buffer {
  return leaves.length === 0 ? EMPTY_ROOT : arrayHasher(leaves)(0, leaves.length);
}

/** A hasher over an array of leaf hashes. */
export function arrayHasher(leaves: readonly Buffer[]): SubtreeHasher {
  const mth = (a: number, b: number): Buffer => {
    if (b - a === 1) return leaves[a]!;
    const k = splitPoint(b - a);
    return nodeHash(mth(a, a + k), mth(a + k, b));
  };
  return mth;
}

/** RFC 6962 §2.1.1 PATH(index, D[0:size]): the audit path of one leaf, leaf-side first. */
export function inclusionProof(index: number, size: number, mth: SubtreeHasher): Buffer[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  const path = (m: number, start: number, end: number): Buffer[] => {
    const n = end - start;
    if (n === 1) return [];
    const k = splitPoint(n);
    return m < k
      ? [...path(m, start, start + k), mth(start + k, end)]
      : [...path(m - k, start + k, end), mth(start, start + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 §2.1.2 PROOF(old, D[0:size]): proves the tree of `old` leaves is a prefix of the tree of `size`. */
export function consistencyProof(old: number, size: number, mth: SubtreeHasher): Buffer[] {
  if (!(old >= 1 && old <= size)) throw new RangeError(`no consistency proof from size ${old} to ${size}`);
  const sub = (m: number, start: number, end: number, whole: boolean): Buffer[] => {
    const n = end - start;
    if (m === n) return whole ? [] : [mth(start, end)];
    const k = splitPoint(n);
    return m <= k
      ? [...sub(m, start, start + k, whole), mth(start + k, end)]
      : [...sub(m - k, start + k, end, false), mth(start, start + k)];
  };
  return sub(old, 0, size, true);
}

/** RFC 9162 §2.1.3.2: recomputes the root from a leaf hash and its path; true when it equals `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Buffer,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size))
    return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: true when `path` proves the tree (`old`, `oldRoot`) is a prefix of (`size`, `root`). */
export function verifyConsistency(
  old: number,
  size: number,
  oldRoot: Buffer,
  root: Buffer,
  path: readonly Buffer[],
): boolean {
  if (!(Number.isSafeInteger(old) && Number.isSafeInteger(size) && old >= 1 && old <= size)) return false;
  if (old === size) return path.length === 0 && oldRoot.equals(root);
  if (path.length === 0) return false;
  const proof = isPowerOfTwo(old) ? [oldRoot, ...path] : [...path];
  let fn = old - 1;
  let sn = size - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = proof[0]!;
  let sr = proof[0]!;
  for (const c of proof.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(oldRoot) && sr.equals(root) && sn === 0;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n + 1) === n;
}
