/** `berth explain <entity>`: the events, with their causes, that made an entity what it is. */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { renderTable } from '../table.js';
import type { Explanation } from '../../events/projections/explain.js';
import { EVENT_HEADERS, eventRow } from '../../events/render.js';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'Show the events and causes that made an entity what it is (e.g. container:ID)',
  usage:
    'berth explain [KIND:]ID|NAME [--namespace NS] [--json]   (kinds: namespace image content snapshot sandbox container task;\n' +
    '  a live container or pod also by its name or a unique id prefix, as the other commands)',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs(
      'explain',
      argv,
      { namespace: { type: 'string' } },
      true,
    );
    if (positionals.length !== 1)
      throw new InvalidArgumentError('berth explain: name exactly one entity, e.g. container:ID');
    const entity = positionals[0]!;
    const ex = await ctx.client.get<Explanation>(`/v1/explain/${encodeURIComponent(entity)}`, {
      namespace: values.namespace,
    });
    if (values.json) {
      ctx.out(JSON.stringify(ex, null, 2));
      return 0;
    }
    if (ex.events.length === 0) {
      ctx.out(`no events about ${entity}`);
      return 3;
    }
    // The story first (who asked, which step acted, what happened), then the events behind it.
    for (const line of ex.story ?? []) ctx.out(line);
    ctx.out('');
    ctx.out(renderTable(EVENT_HEADERS, ex.events.map(eventRow)));
    if (ex.earlierEvents > 0)
      ctx.out(`(${ex.earlierEvents} events of earlier incarnations of this id not shown)`);
    ctx.out(ex.current.length > 0 ? `current: ${JSON.stringify(ex.current)}` : 'current: (no longer exists)');
    return 0;
  },
};
