/**
 * `berth audit verify --witness` and `--from-nats`: the local log checked against what the node
 * published to NATS. The CLI connects to NATS itself rather than asking berthd to: the heads and
 * events a witness trusts must not pass through the daemon whose log is being checked.
 */
import { connect, type NatsConnection } from 'nats';
import { FailedPreconditionError, UnavailableError, errorMessage } from '../../common/errors.js';
import type { NodeInfo } from '../../api/types.js';
import type { BerthEvent } from '../../events/model.js';
import { streamName } from '../../events/relay.js';
import { parsePublicKey, type SignedHead } from '../../events/signed-head.js';
import type { VerifyResult } from '../../events/verify.js';
import {
  firstBadHead,
  readPublishedHeads,
  readStream,
  streamAgainstHeads,
  type PublishedHeads,
} from '../../events/witness.js';
import type { CommandContext } from '../command.js';

export interface WitnessOptions {
  json: boolean;
  natsUrl?: string | undefined;
  node?: string | undefined;
  key?: string | undefined;
}

/** What a witnessed check found; `ok` only when every head matched and nothing else was wrong. */
export interface WitnessReport {
  ok: boolean;
  mode: 'witness' | 'from-nats';
  node: string;
  key: PublishedHeads['key'];
  headsChecked: number;
  newestHead?: number;
  lastGoodHead?: number;
  firstBadHead?: number;
  /** The first seq whose event differs (or is missing), when it could be named. */
  firstDifferingSeq?: number;
  findings: string[];
  summary: string;
}

async function natsConnection(url: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, timeout: 5_000, maxReconnectAttempts: 0, name: 'berth-audit' });
  } catch (err) {
    throw new UnavailableError(`cannot reach NATS at ${url}: ${errorMessage(err)} (set it with --nats-url)`);
  }
}

function natsAddressOf(info: NodeInfo | undefined): string | undefined {
  return info?.services.find((s) => s.name === 'nats')?.address || undefined;
}

async function publishedHeads(nc: NatsConnection, node: string, opts: WitnessOptions, info?: NodeInfo) {
  const pinned = opts.key ? { key: parsePublicKey(opts.key), source: '--key' } : undefined;
  const published = await readPublishedHeads(nc, node, pinned);
  const nodeKey = info?.events?.signing;
  if (nodeKey && nodeKey.publicKey !== published.key.publicKey)
    published.findings.push(
      `berthd signs with key ${nodeKey.keyId}, not the trusted key ${published.key.keyId} (${published.key.source})`,
    );
  if (published.heads.length === 0)
    throw new FailedPreconditionError(
      `node ${node} has no valid signed head on NATS yet, so there is nothing to check against` +
        (published.findings.length > 0 ? `: ${published.findings.join('; ')}` : ''),
    );
  return published;
}

/** Event hashes of the local log in [from, to], by seq. */
async function localHashes(ctx: CommandContext, from: number, to?: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const query = { since: String(from), ...(to === undefined ? {} : { until: String(to) }) };
  for await (const e of ctx.client.stream<BerthEvent>('/v1/events', query)) out.set(e.seq, e.hash);
  return out;
}

/** The first seq in [from, to] the reference holds whose local hash differs (or is missing). */
function firstDifference(
  from: number,
  to: number,
  reference: (seq: number) => string | undefined,
  local: (seq: number) => string | undefined,
): number | undefined {
  for (let seq = from; seq <= to; seq++) {
    const expected = reference(seq);
    if (expected !== undefined && expected !== local(seq)) return seq;
  }
  return undefined;
}

export async function verifyWitnessed(opts: WitnessOptions, ctx: CommandContext): Promise<number> {
  const info = await ctx.client.get<NodeInfo>('/v1/info');
  const node = opts.node ?? info.nodeId;
  const url = opts.natsUrl ?? natsAddressOf(info);
  if (!url) throw new FailedPreconditionError('berthd reports no NATS address: pass --nats-url');
  const nc = await natsConnection(url);
  try {
    const published = await publishedHeads(nc, node, opts, info);
    const heads = published.heads;
    const local = await ctx.client.post<VerifyResult>('/v1/audit/verify', {
      rootsAt: heads.map((h) => h.seq),
    });
    const findings = [...published.findings];
    if (!local.ok && local.firstBad)
      findings.push(`the local chain is broken at seq ${local.firstBad.seq}: ${local.firstBad.problem}`);
    const cmp = firstBadHead(heads, (seq) => local.roots?.[String(seq)]);
    let firstDiffering: number | undefined;
    if (cmp.firstBad) {
      const from = (cmp.lastGood?.seq ?? 0) + 1;
      const to = cmp.firstBad.seq;
      const publishedHashes = new Map<number, string>();
      try {
        for await (const m of readStream(nc, streamName(node), from)) {
          const e = JSON.parse(m.data) as BerthEvent;
          if (e.seq > to) break;
          publishedHashes.set(e.seq, e.hash);
        }
      } catch (err) {
        findings.push(`the node's events stream could not be read: ${errorMessage(err)}`);
      }
      const mine = await localHashes(ctx, from, to);
      firstDiffering =
        publishedHashes.size > 0
          ? firstDifference(
              from,
              to,
              (s) => publishedHashes.get(s),
              (s) => mine.get(s),
            )
          : undefined;
      findings.unshift(
        firstDiffering !== undefined
          ? `local event ${firstDiffering} is the first to differ from what node ${node} published: ` +
              `the signed head at seq ${to} no longer matches (${cmp.why})` +
              (cmp.lastGood ? `; the one at seq ${cmp.lastGood.seq} still does` : '')
          : `the local log was rewritten between seq ${from} and seq ${to}: ${cmp.why}` +
              (cmp.lastGood ? `; the signed head at seq ${cmp.lastGood.seq} still matches` : ''),
      );
    }
    return report(
      {
        mode: 'witness',
        node,
        published,
        heads,
        lastGood: cmp.lastGood,
        firstBad: cmp.firstBad,
        firstDiffering: firstDiffering ?? (cmp.firstBad ? undefined : local.firstBad?.seq),
        findings,
        okSummary: `witnessed: ${heads.length} signed heads (up to seq ${heads.at(-1)!.seq}) by key ${published.key.keyId} match the local log; chain intact: ${local.checked} events`,
      },
      opts.json,
      ctx,
    );
  } finally {
    await nc.close();
  }
}

export async function verifyFromNats(opts: WitnessOptions, ctx: CommandContext): Promise<number> {
  let info: NodeInfo | undefined;
  try {
    info = await ctx.client.get<NodeInfo>('/v1/info');
  } catch (err) {
    if (!opts.node || !opts.natsUrl)
      throw new UnavailableError(
        `berthd is not reachable (${errorMessage(err)}): pass --node ID and --nats-url URL to audit from NATS alone`,
      );
  }
  const node = opts.node ?? info!.nodeId;
  const url = opts.natsUrl ?? natsAddressOf(info);
  if (!url) throw new FailedPreconditionError('no NATS address: pass --nats-url');
  const nc = await natsConnection(url);
  try {
    const published = await publishedHeads(nc, node, opts, info);
    const heads = published.heads;
    const checked = await streamAgainstHeads(nc, node, heads);
    const chain = checked.chain;
    const findings = [...published.findings, ...checked.findings];
    let firstDiffering = chain.problem?.seq;
    if (info) {
      const mine = await localHashes(ctx, 1);
      const upTo = Math.max(chain.length, 0);
      const diff = firstDifference(
        1,
        upTo,
        (s) => chain.hashes[s - 1],
        (s) => mine.get(s),
      );
      if (diff !== undefined) {
        findings.unshift(
          `the local log differs from the events stream first at seq ${diff}` +
            (mine.has(diff)
              ? ` (local hash ${mine.get(diff)}, published ${chain.hashes[diff - 1]})`
              : ' (missing locally)'),
        );
        firstDiffering = diff;
      }
    }
    return report(
      {
        mode: 'from-nats',
        node,
        published,
        heads,
        lastGood: checked.lastGood,
        firstBad: checked.firstBad,
        firstDiffering,
        findings,
        okSummary:
          `rebuilt ${chain.length} events of node ${node} from NATS; ${heads.length} signed heads by key ${published.key.keyId} match` +
          (info
            ? '; the local log matches the stream'
            : '; berthd not reached: the local log was not compared'),
      },
      opts.json,
      ctx,
    );
  } finally {
    await nc.close();
  }
}

function report(
  r: {
    mode: WitnessReport['mode'];
    node: string;
    published: PublishedHeads;
    heads: SignedHead[];
    lastGood: SignedHead | undefined;
    firstBad: SignedHead | undefined;
    firstDiffering: number | undefined;
    findings: string[];
    okSummary: string;
  },
  json: boolean,
  ctx: CommandContext,
): number {
  const ok = r.findings.length === 0;
  const summary = ok
    ? r.okSummary
    : `${r.mode === 'witness' ? 'WITNESS CHECK FAILED' : 'NATS CHECK FAILED'}` +
      (r.firstDiffering !== undefined ? ` at seq ${r.firstDiffering}` : '') +
      `: ${r.findings[0]}`;
  const out: WitnessReport = {
    ok,
    mode: r.mode,
    node: r.node,
    key: r.published.key,
    headsChecked: r.heads.length,
    ...(r.heads.length > 0 ? { newestHead: r.heads.at(-1)!.seq } : {}),
    ...(r.lastGood ? { lastGoodHead: r.lastGood.seq } : {}),
    ...(r.firstBad ? { firstBadHead: r.firstBad.seq } : {}),
    ...(r.firstDiffering !== undefined ? { firstDifferingSeq: r.firstDiffering } : {}),
    findings: r.findings,
    summary,
  };
  if (json) ctx.out(JSON.stringify(out, null, 2));
  else {
    ctx.out(summary);
    for (const f of r.findings.slice(1)) ctx.out(`  also: ${f}`);
  }
  return ok ? 0 : 1;
}
