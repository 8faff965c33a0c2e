/** `berth events`: events from the node's log, optionally following new ones as they are appended. */
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import type { BerthEvent } from '../../events/model.js';
import { eventLine } from '../../events/render.js';

export const eventsCommand: Command = {
  name: 'events',
  summary: 'Show events from the log (--follow for new ones as they happen)',
  usage: 'berth events [--follow] [--since SEQ|TIME] [--topic TOPIC]... [--namespace NS] [--json]',
  async run(argv, ctx) {
    const { values } = parseCommandArgs('events', argv, {
      follow: { type: 'boolean', default: false },
      since: { type: 'string' },
      topic: { type: 'string', multiple: true },
      namespace: { type: 'string' },
    });
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    if (values.follow) process.once('SIGINT', onSigint);
    const query: Record<string, string | undefined> = {
      since: values.since,
      namespace: values.namespace,
      topic: values.topic?.join(','),
      follow: values.follow ? 'true' : undefined,
    };
    try {
      for await (const e of ctx.client.stream<BerthEvent>('/v1/events', query, abort.signal)) {
        ctx.out(values.json ? JSON.stringify(e) : eventLine(e));
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    return 0;
  },
};
