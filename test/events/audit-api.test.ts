/**
 * The audit API's signed heads and proofs through the CLI commands in-process: bad input is a
 * 400 naming the problem, never a crash; check-proof needs no daemon.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';
import { Router } from '../../src/api/router.js';
import { ApiServer } from '../../src/api/server.js';
import { eventRoutes } from '../../src/api/routes/events.js';
import { silentLogger } from '../../src/common/logger.js';
import { EventsService } from '../../src/events/service.js';
import { auditCommand } from '../../src/cli/commands/audit.js';
import { checkProofFile } from '../../src/cli/commands/audit-proofs.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';

let root: { dir: string; cleanup: () => Promise<void> };
let service: EventsService;
let server: ApiServer;
let socket: string;
let client: ApiClient;

beforeEach(async () => {
  root = await tempRoot();
  service = await EventsService.open({ dir: join(root.dir, 'events'), nodeId: 'n1', headEvery: 4 });
  for (let i = 0; i < 9; i++) await service.append(containerCreate(`c${i}`));
  await service.signer.signNow();
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

async function audit(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await auditCommand.run(argv, { client, out: (t) => lines.push(t) });
  return { code, out: lines.join('\n') };
}

describe('the audit API for signed heads and proofs', () => {
  it('answers bad input with a 400 naming the problem', async () => {
    await expect(client.get('/v1/audit/prove', { seq: 'abc' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/seq "abc" is not a seq/) as string,
    });
    await expect(client.get('/v1/audit/prove')).rejects.toThrow(/seq=<seq> is required/);
    await expect(client.get('/v1/audit/prove', { seq: '10' })).rejects.toThrow(
      /seq 10 is beyond the newest signed head \(seq 9\)/,
    );
    await expect(client.get('/v1/audit/consistency', { old: '8', new: '4' })).rejects.toThrow(
      /old head seq 8 is after new head seq 4/,
    );
    await expect(client.get('/v1/audit/consistency', { old: '4', new: '7' })).rejects.toThrow(
      /no signed head at seq 7 \(new\)/,
    );
    await expect(client.post('/v1/audit/verify', { rootsAt: [1, -2] })).rejects.toThrow(
      /"rootsAt" must be an array of non-negative integer tree sizes/,
    );
    await expect(audit('prove', 'x')).rejects.toThrow(/SEQ must be a seq/);
    await expect(audit('consistency', '4')).rejects.toThrow(/usage: berth audit consistency OLD NEW/);
  });

  it('lists the heads, and checks a proof it printed with only the key (from a file or stdin)', async () => {
    const heads = await audit('heads');
    expect(heads.out).toMatch(/^node n1, key [0-9a-f]{16}/);
    expect(
      heads.out
        .split('\n')
        .slice(2)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['4', '8', '9']);
    const proof = await audit('prove', '5', '--json');
    const key = service.signer.publicKey.publicKey;
    const lines: string[] = [];
    const ctx = { client, out: (t: string) => lines.push(t) };
    expect(await checkProofFile('-', key, false, ctx, async () => proof.out)).toBe(0);
    expect(lines.at(-1)).toMatch(/^proof valid: event 5 .* signed at seq 9/);
    expect(
      await checkProofFile('-', key, false, ctx, async () =>
        proof.out.replace('"treeSize": 9', '"treeSize": 8'),
      ),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(/proof INVALID: proof tree size 8 is not the head's seq 9/);
    await expect(checkProofFile('-', undefined, false, ctx, async () => proof.out)).rejects.toThrow(
      /--key PUBKEY is required/,
    );
    await expect(checkProofFile(join(root.dir, 'none.json'), key, false, ctx)).rejects.toThrow(
      /cannot read .*none\.json/,
    );
    const consistency = await audit('consistency', '4', '9', '--json');
    expect(await checkProofFile('-', key, true, ctx, async () => consistency.out)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ ok: true });
  });
});
