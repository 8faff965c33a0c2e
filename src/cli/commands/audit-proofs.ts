/**
 * `berth audit heads`, `prove SEQ`, `consistency OLD NEW` (proof documents from berthd) and
 * `check-proof FILE|-` (checks one with only the node's public key: no daemon needed).
 * The document format and the checking steps are in docs/audit.md.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, errorMessage } from '../../common/errors.js';
import type { PublicKeyInfo, SignedHead } from '../../events/signed-head.js';
import { parsePublicKey } from '../../events/signed-head.js';
import { checkProof, type ConsistencyProof, type InclusionProof } from '../../events/proofs.js';
import type { CommandContext } from '../command.js';
import { renderTable } from '../table.js';

function seqArg(text: string | undefined, what: string): string {
  if (text === undefined || !/^[1-9]\d{0,14}$/.test(text))
    throw new InvalidArgumentError(
      `berth audit: ${what} must be a seq (a positive integer), got ${JSON.stringify(text)}`,
    );
  return text;
}

export async function listHeads(json: boolean, ctx: CommandContext): Promise<number> {
  const r = await ctx.client.get<{ node: string; key: PublicKeyInfo; heads: SignedHead[] }>(
    '/v1/audit/heads',
  );
  if (json) ctx.out(JSON.stringify(r, null, 2));
  else {
    ctx.out(`node ${r.node}, key ${r.key.keyId} (ed25519 ${r.key.publicKey})`);
    ctx.out(
      renderTable(
        ['SEQ', 'TIME', 'ROOT', 'HASH'],
        r.heads.map((h) => [h.seq, h.time, h.root, h.hash]),
      ),
    );
  }
  return 0;
}

export async function prove(seq: string | undefined, json: boolean, ctx: CommandContext): Promise<number> {
  const proof = await ctx.client.get<InclusionProof>('/v1/audit/prove', { seq: seqArg(seq, 'SEQ') });
  if (json) ctx.out(JSON.stringify(proof, null, 2));
  else {
    ctx.out(`event ${proof.event.seq} (hash ${proof.event.hash}) in the tree of ${proof.treeSize} events`);
    ctx.out(
      `signed head: seq ${proof.head.seq}, root ${proof.head.root}, ${proof.head.time}, key ${proof.head.key}`,
    );
    ctx.out(`path (${proof.path.length} hashes, leaf side first):`);
    for (const h of proof.path) ctx.out(`  ${h}`);
    ctx.out('(--json prints the proof document that berth audit check-proof and docs/audit.md check)');
  }
  return 0;
}

export async function consistency(
  oldSeq: string | undefined,
  newSeq: string | undefined,
  json: boolean,
  ctx: CommandContext,
): Promise<number> {
  const proof = await ctx.client.get<ConsistencyProof>('/v1/audit/consistency', {
    old: seqArg(oldSeq, 'OLD'),
    new: seqArg(newSeq, 'NEW'),
  });
  if (json) ctx.out(JSON.stringify(proof, null, 2));
  else {
    ctx.out(`signed head at seq ${proof.oldHead.seq} (root ${proof.oldHead.root})`);
    ctx.out(`is a prefix of the signed head at seq ${proof.newHead.seq} (root ${proof.newHead.root})`);
    ctx.out(`path (${proof.path.length} hashes):`);
    for (const h of proof.path) ctx.out(`  ${h}`);
    ctx.out('(--json prints the proof document that berth audit check-proof and docs/audit.md check)');
  }
  return 0;
}

/** Checks a proof document from a file or stdin against a public key; exit 1 when it fails. */
export async function checkProofFile(
  file: string | undefined,
  key: string | undefined,
  json: boolean,
  ctx: CommandContext,
  stdin: () => Promise<string> = readStdin,
): Promise<number> {
  if (!file) throw new InvalidArgumentError('berth audit check-proof: name a proof file, or - for stdin');
  if (!key)
    throw new InvalidArgumentError(
      'berth audit check-proof: --key PUBKEY is required (base64 raw ed25519 key, PEM, or a PEM file; berth info shows it)',
    );
  const publicKey = parsePublicKey(key);
  let text: string;
  try {
    text = file === '-' ? await stdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`berth audit check-proof: cannot read ${file}: ${errorMessage(err)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const r = { ok: false, message: `the proof is not valid JSON (truncated?): ${text.slice(0, 60)}` };
    ctx.out(json ? JSON.stringify(r, null, 2) : `proof INVALID: ${r.message}`);
    return 1;
  }
  const r = checkProof(doc, publicKey);
  ctx.out(json ? JSON.stringify(r, null, 2) : `${r.ok ? 'proof valid' : 'proof INVALID'}: ${r.message}`);
  return r.ok ? 0 : 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
