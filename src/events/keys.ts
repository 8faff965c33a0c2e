/**
 * The level key layout. Seqs are 16 hex digits, zero-padded (big-endian), so lexical order is
 * seq order and a range scan is one iterator. Prefixes keep kinds apart:
 *   m:format, m:head          format marker and chain head
 *   e:<seq>                   the canonical JSON of an event
 *   k:<idempotency key>       seq of the event appended with that key
 *   s:<subject>\0<seq>        subject index
 *   t:<topic>\0<seq>          topic index
 *   c:<seq>                   projection checkpoint covering events up to seq
 *   r:<name>                  relay cursors
 *   m:tree                    the Merkle tree's right edge at the head (written with the head)
 *   h:<chunk>                 hash of the aligned 256-leaf subtree number <chunk> (leaves 256c..256c+255)
 *   g:<seq>                   the signed head at seq
 */
export const FORMAT_KEY = 'm:format';
export const HEAD_KEY = 'm:head';
export const FORMAT_NAME = 'berth-event-log';
export const FORMAT_VERSION = 1;

export function seqHex(seq: number): string {
  return seq.toString(16).padStart(16, '0');
}

export function parseSeqHex(hex: string): number | undefined {
  if (!/^[0-9a-f]{16}$/.test(hex)) return undefined;
  const n = parseInt(hex, 16);
  return Number.isSafeInteger(n) ? n : undefined;
}

export const eventKey = (seq: number): string => `e:${seqHex(seq)}`;
export const EVENT_LOWER = 'e:';
export const EVENT_UPPER = 'e;';
export const idemKey = (key: string): string => `k:${key}`;
export const subjectKey = (subject: string, seq: number): string => `s:${subject}\0${seqHex(seq)}`;
export const subjectRange = (subject: string) => ({ gt: `s:${subject}\0`, lt: `s:${subject}\x01` });
export const topicKey = (topic: string, seq: number): string => `t:${topic}\0${seqHex(seq)}`;
export const topicRange = (topic: string) => ({ gt: `t:${topic}\0`, lt: `t:${topic}\x01` });
export const checkpointKey = (seq: number): string => `c:${seqHex(seq)}`;
export const CHECKPOINT_LOWER = 'c:';
export const CHECKPOINT_UPPER = 'c;';
export const TREE_KEY = 'm:tree';
/** Leaves per stored chunk hash: a proof reads at most one chunk's events beside the chunk hashes. */
export const CHUNK_LEAVES = 256;
export const CHUNK_HEIGHT = 8;
export const chunkKey = (chunk: number): string => `h:${seqHex(chunk)}`;
export const CHUNK_LOWER = 'h:';
export const CHUNK_UPPER = 'h;';
export const signedHeadKey = (seq: number): string => `g:${seqHex(seq)}`;
export const SIGNED_HEAD_LOWER = 'g:';
export const SIGNED_HEAD_UPPER = 'g;';
export const cursorKey = (name: string): string => `r:${name}`;

/** The seq at the end of an index key. */
export function seqOfIndexKey(key: string): number {
  return parseInt(key.slice(-16), 16);
}
