import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import { Router } from '../../src/api/router.js';
import { ApiServer } from '../../src/api/server.js';
import { eventRoutes } from '../../src/api/routes/events.js';
import { silentLogger } from '../../src/common/logger.js';
import { EventsService } from '../../src/events/service.js';
import type { BerthEvent } from '../../src/events/model.js';
import type { NodeState } from '../../src/events/projections/state.js';
import { eventsCommand } from '../../src/cli/commands/events.js';
import { auditCommand } from '../../src/cli/commands/audit.js';
import { replayCommand } from '../../src/cli/commands/replay.js';
import { explainCommand } from '../../src/cli/commands/explain.js';
import type { Command } from '../../src/cli/command.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';
import { podLifecycle } from './helpers/scenario.js';

let root: { dir: string; cleanup: () => Promise<void> };
let service: EventsService;
let server: ApiServer;
let socket: string;
let client: ApiClient;

beforeEach(async () => {
  root = await tempRoot();
  service = await EventsService.open({ dir: join(root.dir, 'events'), nodeId: 'test' });
  for (const r of podLifecycle()) await service.append(r);
  server = new ApiServer(new Router().add(...eventRoutes(service)), silentLogger);
  socket = join(root.dir, 'api.sock');
  await server.listen(socket);
  client = new ApiClient(socket);
});
afterEach(async () => {
  await server.close(socket);
  await service.close();
  await root.cleanup();
});

async function run(cmd: Command, ...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await cmd.run(argv, { client, out: (t) => lines.push(t) });
  return { code, out: lines.join('\n') };
}

describe('berth events', () => {
  it('lists the log, filtered by topic and since', async () => {
    const all = await run(eventsCommand, '--json');
    expect(all.out.split('\n').map((l) => (JSON.parse(l) as BerthEvent).seq)).toEqual(
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
    const tasks = await run(eventsCommand, '--json', '--topic', '/tasks/exit', '--topic', '/sandboxes/start');
    expect(tasks.out.split('\n').map((l) => (JSON.parse(l) as BerthEvent).seq)).toEqual([8, 15, 16]);
    const since = await run(eventsCommand, '--since', '15');
    expect(since.out.split('\n')).toHaveLength(2);
    expect(since.out).toMatch(/15 .* k8s\.io .*\/tasks\/exit .* c1 .*\[reconciler: exit file found\]/);
    const family = await run(eventsCommand, '--json', '--topic', '/network');
    expect(family.out.split('\n')).toHaveLength(1);
  });

  it('follows new events as they are appended, starting from a seq', async () => {
    const abort = new AbortController();
    const seen: number[] = [];
    const done = (async () => {
      try {
        for await (const e of client.stream<BerthEvent>(
          '/v1/events',
          { follow: 'true', since: '15' },
          abort.signal,
        )) {
          seen.push(e.seq);
          if (seen.length === 4) abort.abort();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    await service.append(containerCreate('x1'));
    await service.append(containerCreate('x2'));
    await done;
    expect(seen).toEqual([15, 16, 17, 18]);
  });

  it('refuses a since that is neither a seq nor a time', async () => {
    await expect(run(eventsCommand, '--since', 'yesterday-ish')).rejects.toThrow(
      /since "yesterday-ish" is neither a seq nor an ISO-8601 time/,
    );
    await expect(run(eventsCommand, '--topic', '/bogus')).rejects.toThrow(/unknown topic "\/bogus"/);
  });
});

describe('berth audit', () => {
  it('filters by entity, cause, namespace and time range', async () => {
    const byEntity = JSON.parse(
      (await run(auditCommand, '--json', '--entity', 'sandbox:pod1')).out,
    ) as BerthEvent[];
    expect(byEntity.map((e) => e.topic)).toEqual([
      '/sandboxes/create',
      '/network/attach',
      '/sandboxes/start',
    ]);
    const byCause = JSON.parse(
      (await run(auditCommand, '--json', '--cause', 'reconciler')).out,
    ) as BerthEvent[];
    expect(byCause.map((e) => e.seq)).toEqual([15, 16]);
    const byWorkflow = JSON.parse(
      (await run(auditCommand, '--json', '--cause', 'pull:k8s.io:busybox')).out,
    ) as BerthEvent[];
    expect(byWorkflow.map((e) => e.seq)).toEqual([2, 3, 4, 5]);
    expect(JSON.parse((await run(auditCommand, '--json', '--namespace', 'other')).out)).toEqual([]);
    const first = (await service.log.get(1))!;
    const range = JSON.parse(
      (await run(auditCommand, '--json', '--since', first.time, '--until', '3')).out,
    ) as BerthEvent[];
    expect(range.map((e) => e.seq)).toEqual([1, 2, 3]);
    const table = (await run(auditCommand, '--entity', 'container:c1', '--limit', '1')).out;
    expect(table).toMatch(
      /^SEQ\s+TIME\s+NAMESPACE\s+TOPIC\s+SUBJECT\s+CAUSE\n10 .*\/containers\/create\s+c1\s+workflow container:c1:create step record \(run run-1\)$/,
    );
  });

  it('verify passes on an intact chain and names the first bad seq otherwise', async () => {
    expect(await run(auditCommand, 'verify')).toEqual({
      code: 0,
      out: expect.stringMatching(/^chain intact: 16 events verified, head seq 16/),
    });
    const key = 'e:0000000000000007';
    const raw = (await service.log.rawDb.get(key))!;
    await service.log.rawDb.put(key, raw.replace('10.88.0.2', '10.88.0.3'));
    const r = await run(auditCommand, 'verify');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^chain BROKEN at seq 7: hash .* does not match the content/);
  });
});

describe('berth replay', () => {
  it('shows the state as of a seq, same shape as the live projection', async () => {
    const r = await run(replayCommand, '--at', '8', '--json');
    const state = JSON.parse(r.out) as NodeState;
    expect(state).toEqual(JSON.parse(JSON.stringify(await service.projections.replayAt({ seq: 8 }))));
    expect(Object.keys(state).sort()).toEqual(Object.keys(service.projections.state).sort());
    const table = await run(replayCommand, '--at', '8');
    expect(table.out).toMatch(/state as of seq 8\nKIND .*\n.*sandboxes\s+k8s\.io\/pod1\s+ready/s);
  });

  it('check exits 0 when live matches a rebuild and 1 listing differences otherwise', async () => {
    expect((await run(replayCommand, '--check')).code).toBe(0);
    service.projections.state.sandboxes['k8s.io/pod1']!.state = 'notready';
    const r = await run(replayCommand, '--check');
    expect(r.code).toBe(1);
    expect(r.out).toContain('sandboxes.k8s.io/pod1.state: live "notready", rebuilt "ready"');
  });

  it('refuses a missing or doubled mode and a seq past the end', async () => {
    await expect(run(replayCommand)).rejects.toThrow(/exactly one of --at/);
    await expect(run(replayCommand, '--at', '99')).rejects.toThrow(/past the end of the log/);
  });
});

describe('berth explain', () => {
  it('lists the events and causes that made an entity, including ids with slashes', async () => {
    const r = await run(explainCommand, 'container:c1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\/containers\/create .*workflow container:c1:create step record/);
    expect(r.out).toMatch(/\/tasks\/exit .*reconciler: exit file found/);
    const img = JSON.parse(
      (await run(explainCommand, 'image:docker.io/library/busybox:latest', '--json')).out,
    ) as { events: BerthEvent[] };
    expect(img.events.map((e) => e.seq)).toEqual([3]);
    expect(await run(explainCommand, 'container:nope')).toEqual({
      code: 3,
      out: 'no events about container:nope',
    });
  });
});
