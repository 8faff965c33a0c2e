/** `berth replay --at`: the node's state as of a seq or time; `berth replay --check`: rebuild and compare with live. */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';
import type { CheckResult } from '../../events/projections/projections.js';
import { ENTITY_KINDS, type NodeState } from '../../events/projections/state.js';

export const replayCommand: Command = {
  name: 'replay',
  summary:
    'Show the state as of a seq or time (--at), or check the live projection against a rebuild (--check)',
  usage: 'berth replay --at SEQ|TIME [--json]\n       berth replay --check [--json]',
  async run(argv, ctx) {
    const { values } = parseCommandArgs('replay', argv, {
      at: { type: 'string' },
      check: { type: 'boolean', default: false },
    });
    if (values.check === (values.at !== undefined))
      throw new InvalidArgumentError('berth replay: give exactly one of --at SEQ|TIME or --check');
    if (values.check) {
      const r = await ctx.client.get<CheckResult>('/v1/replay/check');
      if (values.json) ctx.out(JSON.stringify(r, null, 2));
      else if (r.equal) ctx.out(`live projection matches a rebuild from seq 0 (through seq ${r.seq})`);
      else {
        ctx.out(`live projection DIFFERS from a rebuild from seq 0 (through seq ${r.seq}):`);
        for (const d of r.differences) ctx.out(`  ${d}`);
      }
      return r.equal ? 0 : 1;
    }
    const state = await ctx.client.get<NodeState>('/v1/replay', { at: values.at });
    if (values.json) {
      ctx.out(JSON.stringify(state, null, 2));
      return 0;
    }
    ctx.out(`state as of seq ${state.seq}`);
    const rows: string[][] = [];
    for (const kind of ENTITY_KINDS) {
      for (const [key, record] of Object.entries(state[kind])) {
        const r = record as unknown as Record<string, unknown>;
        const status =
          typeof r.status === 'string'
            ? r.status
            : typeof r.state === 'string'
              ? r.state
              : typeof r.kind === 'string'
                ? r.kind
                : '';
        rows.push([kind, key, status, String(r.updatedAt ?? ''), String(r.lastSeq ?? '')]);
      }
    }
    ctx.out(renderTable(['KIND', 'KEY', 'STATUS', 'UPDATED', 'LAST SEQ'], rows));
    return 0;
  },
};
