/**
 * Checkpoint encoding. A checkpoint holds the projection state, the seq it covers, the hash
 * of the event at that seq (so a checkpoint from another history is never trusted) and a
 * sha256 of the state's canonical JSON (so a damaged checkpoint is detected and ignored).
 */
import { canonicalJson, sha256Hex } from '../canonical.js';
import type { NodeState } from './state.js';

export const CHECKPOINT_FORMAT = 1;

interface CheckpointBody {
  format: number;
  seq: number;
  eventHash: string;
  stateHash: string;
  state: NodeState;
}

export function encodeCheckpoint(state: NodeState, eventHash: string): string {
  const stateJson = canonicalJson(state);
  const head = { format: CHECKPOINT_FORMAT, seq: state.seq, eventHash, stateHash: sha256Hex(stateJson) };
  return JSON.stringify(head).slice(0, -1) + ',"state":' + stateJson + '}';
}

/**
 * Decodes and validates a checkpoint stored at `keySeq`; returns the state or a reason it
 * cannot be trusted. `hashAt` gives the hash of the log's event at a seq.
 */
export async function decodeCheckpoint(
  body: string,
  keySeq: number,
  hashAt: (seq: number) => Promise<string | undefined>,
): Promise<{ state: NodeState } | { problem: string }> {
  let cp: CheckpointBody;
  try {
    cp = JSON.parse(body) as CheckpointBody;
  } catch {
    return { problem: 'not valid JSON' };
  }
  if (cp === null || typeof cp !== 'object' || cp.format !== CHECKPOINT_FORMAT)
    return { problem: `unknown format ${String(cp?.format)}` };
  if (cp.seq !== keySeq || cp.state?.seq !== keySeq)
    return { problem: `stored at seq ${keySeq} but says seq ${String(cp.seq)}` };
  let stateJson: string;
  try {
    stateJson = canonicalJson(cp.state);
  } catch (err) {
    return { problem: `state cannot be encoded: ${(err as Error).message}` };
  }
  if (sha256Hex(stateJson) !== cp.stateHash) return { problem: 'state hash mismatch (damaged)' };
  const logHash = await hashAt(keySeq);
  if (keySeq > 0 && logHash !== cp.eventHash) {
    return {
      problem:
        logHash === undefined
          ? `covers seq ${keySeq}, beyond the log`
          : `event hash at seq ${keySeq} differs from the log's`,
    };
  }
  return { state: cp.state };
}
