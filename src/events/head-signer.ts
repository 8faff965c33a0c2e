/**
 * The node key and the head signer. The key is an ed25519 private key in PEM at
 * `<keys dir>/node-ed25519.pem` (0600, in a 0700 directory), made on first start.
 *
 * The signer signs the head every `every` events or `intervalMs` when something was appended
 * since the last signed head, and once more at close. It never runs inside a commit: the append
 * listener only captures the tree head (O(log n) hashes) and schedules the signing and the synced
 * put for the next turn of the event loop, so group commit never waits for it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { EventLog, TreeHead } from './log.js';
import { canonicalJson } from './canonical.js';
import { publicKeyInfo, signHead, type PublicKeyInfo, type SignedHead } from './signed-head.js';

export const NODE_KEY_FILE = 'node-ed25519.pem';

export interface NodeKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  info: PublicKeyInfo;
}

/** Loads the node key from `dir`, making it (and the 0700 directory) on first use. */
export async function loadOrCreateNodeKey(dir: string): Promise<NodeKey> {
  const file = join(dir, NODE_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new FailedPreconditionError(`cannot read the node key ${file}: ${errorMessage(err)}`);
  }
  if (pem === undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // wx: two processes racing for a fresh root cannot both write a key.
    await writeFile(file, pem, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      pem = await readFile(file, 'utf8');
    });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new FailedPreconditionError(
      `the node key ${file} is not a valid PEM private key: ${errorMessage(err)}`,
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new FailedPreconditionError(
      `the node key ${file} is ${String(privateKey.asymmetricKeyType)}, not ed25519`,
    );
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, info: publicKeyInfo(publicKey) };
}

export interface HeadSignerOptions {
  nodeId: string;
  key: NodeKey;
  /** Events between signed heads (default 1000). */
  every?: number;
  /** At most this long between an append and a head covering it (default 10 s). */
  intervalMs?: number;
  logger: Logger;
}

export class HeadSigner {
  private lastSigned = 0;
  private signing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private listeners = new Set<(head: SignedHead) => void>();
  private newest: SignedHead | undefined;

  private constructor(
    private readonly log: EventLog,
    private readonly opts: HeadSignerOptions,
  ) {}

  static async start(log: EventLog, opts: HeadSignerOptions): Promise<HeadSigner> {
    const signer = new HeadSigner(log, opts);
    for await (const body of log.heads.list({ reverse: true, limit: 1 })) {
      signer.newest = JSON.parse(body) as SignedHead;
      signer.lastSigned = signer.newest.seq;
    }
    const every = opts.every ?? 1000;
    signer.unsubscribe = log.onAppend(() => {
      if (log.lastSeq - signer.lastSigned >= every) signer.schedule(log.treeHead());
    });
    signer.timer = setInterval(() => {
      if (log.lastSeq > signer.lastSigned) signer.schedule(log.treeHead());
    }, opts.intervalMs ?? 10_000);
    signer.timer.unref();
    // A head for what an earlier run appended after its last head (a crash skips the one at close).
    if (log.lastSeq > signer.lastSigned) signer.schedule(log.treeHead());
    return signer;
  }

  get publicKey(): PublicKeyInfo {
    return this.opts.key.info;
  }

  /** The newest signed head, if any. */
  get latest(): SignedHead | undefined {
    return this.newest;
  }

  /** Hears of every head once it is stored. */
  onHead(listener: (head: SignedHead) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Signs the current head if anything was appended since the last one; resolves once it is stored. */
  async signNow(): Promise<void> {
    if (this.log.lastSeq > this.lastSigned) this.schedule(this.log.treeHead());
    await this.signing;
  }

  /** Signs a final head and stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.signNow();
  }

  private schedule(at: TreeHead): void {
    this.lastSigned = at.seq;
    this.signing = this.signing.then(() => new Promise((r) => setImmediate(r))).then(() => this.sign(at));
  }

  private async sign(at: TreeHead): Promise<void> {
    try {
      const { key, nodeId } = this.opts;
      const head = signHead(
        {
          v: 1,
          node: nodeId,
          seq: at.seq,
          hash: at.hash,
          root: at.root,
          time: new Date().toISOString(),
          key: key.info.keyId,
        },
        key.privateKey,
      );
      await this.log.heads.put(head.seq, canonicalJson(head));
      this.newest = head;
      for (const l of this.listeners) l(head);
    } catch (err) {
      this.opts.logger.error({ err, seq: at.seq }, 'signing the event log head failed');
      // Signed again by the next tick or append.
      if (this.lastSigned === at.seq) this.lastSigned = this.newest?.seq ?? 0;
    }
  }
}
