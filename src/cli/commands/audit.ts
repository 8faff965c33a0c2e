/**
 * `berth audit`: who changed what, when (filtered); `berth audit verify`: prove the chain intact,
 * also against the heads the node signed and published (--witness) or from NATS alone
 * (--from-nats); signed heads and Merkle proofs (audit-proofs.ts, docs/audit.md).
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';
import type { BerthEvent } from '../../events/model.js';
import { EVENT_HEADERS, eventRow } from '../../events/render.js';
import type { VerifyResult } from '../../events/verify.js';
import { checkProofFile, consistency, listHeads, prove } from './audit-proofs.js';
import { verifyFromNats, verifyWitnessed } from './audit-witness.js';

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Query the event history, or verify its hash chain (audit verify)',
  usage:
    'berth audit [--entity KIND:ID] [--topic TOPIC]... [--namespace NS] [--cause CAUSE] [--since SEQ|TIME] [--until SEQ|TIME] [--limit N] [--json]\n' +
    '       berth audit verify [--witness | --from-nats [--node ID]] [--nats-url URL] [--key PUBKEY] [--json]\n' +
    '       berth audit heads [--json]\n' +
    '       berth audit prove SEQ [--json]\n' +
    '       berth audit consistency OLD NEW [--json]\n' +
    '       berth audit check-proof FILE|- --key PUBKEY [--json]',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs(
      'audit',
      argv,
      {
        entity: { type: 'string' },
        topic: { type: 'string', multiple: true },
        namespace: { type: 'string' },
        cause: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        limit: { type: 'string' },
        witness: { type: 'boolean', default: false },
        'from-nats': { type: 'boolean', default: false },
        'nats-url': { type: 'string' },
        node: { type: 'string' },
        key: { type: 'string' },
      },
      true,
    );
    const [sub, ...rest] = positionals;
    const witnessOptions = {
      json: values.json,
      natsUrl: values['nats-url'],
      node: values.node,
      key: values.key,
    };
    const arity = (n: number, usage: string) => {
      if (rest.length !== n)
        throw new InvalidArgumentError(`berth audit ${sub}: usage: berth audit ${usage}`);
    };
    switch (sub) {
      case 'verify':
        arity(0, 'verify [--witness | --from-nats]');
        if (values.witness && values['from-nats'])
          throw new InvalidArgumentError('berth audit verify: choose --witness or --from-nats, not both');
        if (values['from-nats']) return verifyFromNats(witnessOptions, ctx);
        if (values.witness) return verifyWitnessed(witnessOptions, ctx);
        return verify(values.json, ctx);
      case 'heads':
        arity(0, 'heads');
        return listHeads(values.json, ctx);
      case 'prove':
        arity(1, 'prove SEQ');
        return prove(rest[0], values.json, ctx);
      case 'consistency':
        arity(2, 'consistency OLD NEW');
        return consistency(rest[0], rest[1], values.json, ctx);
      case 'check-proof':
        arity(1, 'check-proof FILE|- --key PUBKEY');
        return checkProofFile(rest[0], values.key, values.json, ctx);
    }
    if (positionals.length > 0)
      throw new InvalidArgumentError(
        `berth audit: unexpected argument "${positionals[0]}" (subcommands: verify, heads, prove, consistency, check-proof)`,
      );
    const events: BerthEvent[] = [];
    const query = {
      entity: values.entity,
      topic: values.topic?.join(','),
      namespace: values.namespace,
      cause: values.cause,
      since: values.since,
      until: values.until,
      limit: values.limit,
    };
    for await (const e of ctx.client.stream<BerthEvent>('/v1/audit', query)) events.push(e);
    if (values.json) ctx.out(JSON.stringify(events, null, 2));
    else ctx.out(renderTable(EVENT_HEADERS, events.map(eventRow)));
    return 0;
  },
};

async function verify(json: boolean, ctx: Parameters<Command['run']>[1]): Promise<number> {
  const r = await ctx.client.get<VerifyResult>('/v1/audit/verify');
  if (json) ctx.out(JSON.stringify(r, null, 2));
  else if (r.ok)
    ctx.out(`chain intact: ${r.checked} events verified, head seq ${r.head.seq} hash ${r.head.hash}`);
  else
    ctx.out(
      `chain BROKEN at seq ${r.firstBad!.seq}: ${r.firstBad!.problem} (${r.checked} events before it verified)`,
    );
  return r.ok ? 0 : 1;
}
