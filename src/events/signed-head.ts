/**
 * Signed heads: a node's ed25519 signature over (seq, chain head hash, Merkle root, time), so a
 * witness holding the published heads can tell whether the log was rewritten afterwards.
 *
 * The signed bytes are "berth-signed-head/v1\n" followed by the canonical JSON of the head without
 * `signature` (keys sorted, no whitespace: src/events/canonical.ts). `key` is the key id: the first
 * 16 hex digits of SHA-256 of the raw 32-byte public key. Nothing here needs the daemon.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../common/errors.js';
import { canonicalJson } from './canonical.js';

export const SIGNED_HEAD_DOMAIN = 'berth-signed-head/v1\n';

export interface SignedHead {
  v: 1;
  node: string;
  seq: number;
  /** The chain hash of event `seq`. */
  hash: string;
  /** The Merkle root (hex) over events 1..seq. */
  root: string;
  time: string;
  /** Key id of the signing key. */
  key: string;
  /** base64 ed25519 signature over SIGNED_HEAD_DOMAIN + canonical JSON of the other fields. */
  signature: string;
}

export type UnsignedHead = Omit<SignedHead, 'signature'>;

/** A node's public key in the forms Berth shows it. */
export interface PublicKeyInfo {
  /** base64 of the raw 32-byte ed25519 public key. */
  publicKey: string;
  keyId: string;
  pem: string;
}

export function signedHeadMessage(head: UnsignedHead): Buffer {
  return Buffer.from(SIGNED_HEAD_DOMAIN + canonicalJson(head), 'utf8');
}

export function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new InvalidArgumentError('not an ed25519 key');
  return Buffer.from(x, 'base64url');
}

export function keyIdOf(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function publicKeyInfo(key: KeyObject): PublicKeyInfo {
  const raw = rawPublicKey(key);
  return {
    publicKey: raw.toString('base64'),
    keyId: keyIdOf(raw),
    pem: key.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * A public key from what a user gives: base64 of the raw 32 bytes, a PEM text, or the path of a
 * PEM file. Throws InvalidArgumentError saying which form it expected.
 */
export function parsePublicKey(text: string): KeyObject {
  const value = text.trim();
  if (/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=?$/.test(value)) {
    const raw = Buffer.from(value, 'base64');
    if (raw.length === 32)
      return createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
        format: 'jwk',
      });
  }
  let pem = value;
  if (!value.startsWith('-----BEGIN')) {
    try {
      pem = readFileSync(value, 'utf8');
    } catch {
      throw new InvalidArgumentError(
        `key ${JSON.stringify(value.slice(0, 60))} is neither base64 of a 32-byte ed25519 public key, nor PEM, nor a readable PEM file`,
      );
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new InvalidArgumentError(`key is not a valid PEM public key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new InvalidArgumentError(`key is a ${String(key.asymmetricKeyType)} key, not ed25519`);
  return key;
}

/** Signs exactly the head's fields (a `signature` or anything else passed along is not signed over). */
export function signHead(head: UnsignedHead, privateKey: KeyObject): SignedHead {
  const { v, node, seq, hash, root, time, key } = head;
  const unsigned: UnsignedHead = { v, node, seq, hash, root, time, key };
  const signature = sign(null, signedHeadMessage(unsigned), privateKey).toString('base64');
  return { ...unsigned, signature };
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a signed head's shape and signature against `publicKey`. Returns the head, or throws an
 * InvalidArgumentError naming what is wrong (truncated, a field missing, another key, forged).
 */
export function verifySignedHead(input: unknown, publicKey: KeyObject, expectedNode?: string): SignedHead {
  let value = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      value = JSON.parse(input.toString());
    } catch {
      throw new InvalidArgumentError(
        `signed head is not valid JSON (truncated?): ${input.toString().slice(0, 60)}`,
      );
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError('signed head is not a JSON object');
  const h = value as Record<string, unknown>;
  const problem = (field: string, want: string): never => {
    throw new InvalidArgumentError(
      `signed head field "${field}" ${want} (got ${JSON.stringify(h[field])?.slice(0, 70)})`,
    );
  };
  if (h.v !== 1) problem('v', 'must be 1');
  if (typeof h.node !== 'string' || h.node === '') problem('node', 'must be the node id');
  if (typeof h.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 1)
    problem('seq', 'must be a positive integer');
  if (typeof h.hash !== 'string' || !HEX64.test(h.hash)) problem('hash', 'must be 64 hex digits');
  if (typeof h.root !== 'string' || !HEX64.test(h.root)) problem('root', 'must be 64 hex digits');
  if (typeof h.time !== 'string' || Number.isNaN(Date.parse(h.time))) problem('time', 'must be an ISO time');
  if (typeof h.key !== 'string') problem('key', 'must be the key id');
  if (typeof h.signature !== 'string' || Buffer.from(h.signature, 'base64').length !== 64)
    problem('signature', 'must be a base64 ed25519 signature (64 bytes)');
  const extra = Object.keys(h).filter((k) => !SIGNED_FIELDS.includes(k));
  if (extra.length > 0) throw new InvalidArgumentError(`signed head has unknown fields: ${extra.join(', ')}`);
  const head = h as unknown as SignedHead;
  if (expectedNode !== undefined && head.node !== expectedNode)
    throw new InvalidArgumentError(`signed head is for node ${head.node}, not ${expectedNode}`);
  const expectedKey = keyIdOf(rawPublicKey(publicKey));
  if (head.key !== expectedKey)
    throw new InvalidArgumentError(
      `signed head at seq ${head.seq} was signed by key ${head.key}, not by the node's key ${expectedKey}`,
    );
  const { signature, ...unsigned } = head;
  if (!verify(null, signedHeadMessage(unsigned), publicKey, Buffer.from(signature, 'base64')))
    throw new InvalidArgumentError(
      `signed head at seq ${head.seq} has a bad signature: it was altered or forged`,
    );
  return head;
}

const SIGNED_FIELDS = ['v', 'node', 'seq', 'hash', 'root', 'time', 'key', 'signature'];
