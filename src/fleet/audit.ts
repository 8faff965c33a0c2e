/**
 * `berth fleet audit`: each node checked from NATS alone, as `berth audit verify --from-nats`
 * checks one (events/witness.ts): its chain rebuilt from its events stream, its signed heads
 * (trust on first use of the key it published) checked, and the rebuilt Merkle roots compared
 * with them. Heads are read before the events: a head is published only once its events are,
 * so every head read has its events in the stream read after it.
 */
import type { NatsConnection } from 'nats';
import { errorMessage } from '../common/errors.js';
import { readPublishedHeads, streamAgainstHeads, type PublishedHeads } from '../events/witness.js';
import { streamOf, type FleetNode } from './streams.js';

export interface NodeAudit {
  node: string;
  ok: boolean;
  /** Events that chain correctly from seq 1 in the stream. */
  events: number;
  headsChecked: number;
  newestHead?: number;
  /** Events after the newest signed head: chained, not yet covered by a signature. */
  unsigned: number;
  key?: { keyId: string; source: string };
  findings: string[];
  summary: string;
}

export interface FleetAudit {
  ok: boolean;
  nodes: NodeAudit[];
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export async function auditNode(nc: NatsConnection, n: FleetNode): Promise<NodeAudit> {
  const node = n.nodeId;
  const findings: string[] = [];
  const done = (events: number, published: PublishedHeads | undefined, okSummary: string): NodeAudit => {
    const heads = published?.heads ?? [];
    const newest = heads.at(-1)?.seq;
    const ok = findings.length === 0;
    return {
      node,
      ok,
      events,
      headsChecked: heads.length,
      ...(newest !== undefined ? { newestHead: newest } : {}),
      unsigned: Math.max(0, events - (newest ?? 0)),
      ...(published ? { key: { keyId: published.key.keyId, source: published.key.source } } : {}),
      findings,
      summary: ok ? okSummary : `FAILED: ${findings[0]}`,
    };
  };
  if (!n.stream) {
    const logged = n.record?.logSeq ?? 0;
    if (logged > 0)
      findings.push(`node ${node} reports ${logged} events but NATS has no stream ${streamOf(n) ?? ''}`);
    return done(0, undefined, 'no events published yet');
  }

  let published: PublishedHeads | undefined;
  let headsError: string | undefined;
  try {
    published = await readPublishedHeads(nc, node);
    findings.push(...published.findings);
  } catch (err) {
    headsError = errorMessage(err);
  }
  const heads = published?.heads ?? [];
  const checked = await streamAgainstHeads(nc, node, heads);
  const chain = checked.chain;
  findings.push(...checked.findings);
  if (chain.length > 0 && heads.length === 0)
    findings.push(
      headsError ??
        `node ${node} has no valid signed head on NATS: its ${chain.length} events are covered by no signature`,
    );
  // The node's own count of events relayed can only trail the stream; more means some were removed.
  const relayed = n.record?.relayedSeq ?? 0;
  if (!chain.problem && relayed > chain.length)
    findings.push(
      `node ${node} reported ${relayed} events relayed, but its stream holds ${chain.length}: events were removed from it`,
    );
  const newest = heads.at(-1);
  return done(
    chain.length,
    published,
    `${count(chain.length, 'event')} chained` +
      (newest
        ? `; ${count(heads.length, 'signed head')} (up to seq ${newest.seq}) by key ${published!.key.keyId} match`
        : ''),
  );
}

export async function fleetAudit(nc: NatsConnection, nodes: FleetNode[]): Promise<FleetAudit> {
  const out: NodeAudit[] = [];
  for (const n of nodes) {
    try {
      out.push(await auditNode(nc, n));
    } catch (err) {
      const why = `could not be audited: ${errorMessage(err)}`;
      out.push({
        node: n.nodeId,
        ok: false,
        events: 0,
        headsChecked: 0,
        unsigned: 0,
        findings: [why],
        summary: `FAILED: ${why}`,
      });
    }
  }
  return { ok: out.every((a) => a.ok), nodes: out };
}
