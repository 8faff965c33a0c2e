/** `berth audit`: who changed what, when (filtered), and `berth audit verify`: prove the chain intact. */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';
import type { BerthEvent } from '../../events/model.js';
import { EVENT_HEADERS, eventRow } from '../../events/render.js';
import type { VerifyResult } from '../../events/verify.js';

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Query the event history, or verify its hash chain (audit verify)',
  usage:
    'berth audit [--entity KIND:ID] [--topic TOPIC]... [--namespace NS] [--cause CAUSE] [--since SEQ|TIME] [--until SEQ|TIME] [--limit N] [--json]\n' +
    '       berth audit verify [--json]',
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
      },
      true,
    );
    if (positionals[0] === 'verify' && positionals.length === 1) return verify(values.json, ctx);
    if (positionals.length > 0)
      throw new InvalidArgumentError(
        `berth audit: unexpected argument "${positionals[0]}" (did you mean "audit verify"?)`,
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
