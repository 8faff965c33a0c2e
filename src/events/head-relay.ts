/**
 * Publishing signed heads and the node's public key to NATS, on the relay's connection.
 *
 * Stream `BERTH_HEADS_<node>` holds `berth.heads.<node>` (one message per signed head, the head's
 * canonical JSON, `Nats-Msg-Id: <node>:head:<seq>`) and `berth.keys.<node>` (the public key,
 * `Nats-Msg-Id: <node>:key:<key id>`, published again only when the key changes). A head is
 * published once the events it covers are (the relay's cursor has passed its seq), so a witness
 * reading both streams finds a head's events before it. After a reconnect the publisher starts
 * from the newest head the stream holds.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { EventLog } from './log.js';
import type { PublicKeyInfo, SignedHead } from './signed-head.js';

export function headsStreamName(nodeId: string): string {
  return `BERTH_HEADS_${nodeId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
export const headsSubject = (nodeId: string): string => `berth.heads.${nodeId}`;
export const keysSubject = (nodeId: string): string => `berth.keys.${nodeId}`;

/** The payload of a key message. */
export interface PublishedKey {
  node: string;
  publicKey: string;
  keyId: string;
  pem: string;
}

export class HeadPublisher {
  /** The newest head seq the stream holds. */
  private published = 0;
  /** The newest head seq stored locally. */
  private newest = 0;

  constructor(
    private readonly log: EventLog,
    private readonly nodeId: string,
    private readonly key: PublicKeyInfo,
    private readonly logger: Logger,
    latest: SignedHead | undefined,
    /** JetStream replicas of the heads stream when it is created. */
    private readonly replicas = 1,
  ) {
    this.newest = latest?.seq ?? 0;
  }

  get publishedSeq(): number {
    return this.published;
  }

  noteHead(head: SignedHead): void {
    this.newest = Math.max(this.newest, head.seq);
  }

  /** True when a stored head at or below `cursor` is not in the stream yet. */
  hasPending(cursor: number): boolean {
    return this.newest > this.published && cursor > this.published;
  }

  /** Creates the stream if missing, publishes the key if the stream lacks it, and finds the newest published head. */
  async sync(jsm: JetStreamManager, js: JetStreamClient): Promise<void> {
    const stream = headsStreamName(this.nodeId);
    await jsm.streams.info(stream).catch(async (err: unknown) => {
      if (!/stream not found/i.test(errorMessage(err))) throw err;
      return jsm.streams.add({
        name: stream,
        subjects: [headsSubject(this.nodeId), keysSubject(this.nodeId)],
        num_replicas: this.replicas,
      });
    });
    const lastKey = await lastOn(jsm, stream, keysSubject(this.nodeId));
    if ((lastKey ? (JSON.parse(lastKey) as Partial<PublishedKey>).keyId : undefined) !== this.key.keyId) {
      const payload: PublishedKey = { node: this.nodeId, ...this.key };
      await js.publish(keysSubject(this.nodeId), JSON.stringify(payload), {
        msgID: `${this.nodeId}:key:${this.key.keyId}`,
      });
      this.logger.info({ keyId: this.key.keyId }, 'node public key published');
    }
    const lastHead = await lastOn(jsm, stream, headsSubject(this.nodeId));
    const seq = lastHead ? (JSON.parse(lastHead) as Partial<SignedHead>).seq : 0;
    this.published = typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : 0;
  }

  /** Publishes the stored heads above the published one, up to `cursor`, in seq order. */
  async publishPending(js: JetStreamClient, cursor: number): Promise<void> {
    for await (const body of this.log.heads.list({ from: this.published + 1 })) {
      const head = JSON.parse(body) as SignedHead;
      if (head.seq > cursor) break;
      await js.publish(headsSubject(this.nodeId), body, { msgID: `${this.nodeId}:head:${head.seq}` });
      this.published = head.seq;
    }
  }
}

/** The payload of the last message on `subject`, or undefined when there is none. */
async function lastOn(jsm: JetStreamManager, stream: string, subject: string): Promise<string | undefined> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return new TextDecoder().decode(m.data);
  } catch (err) {
    if (/no message found|not found/i.test(errorMessage(err))) return undefined;
    throw err;
  }
}
