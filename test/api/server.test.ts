import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApiServer } from '../../src/api/server.js';
import { ApiClient } from '../../src/api/client.js';
import { Router } from '../../src/api/router.js';
import { NotFoundError, InvalidArgumentError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';

const servers: { server: ApiServer; socket: string }[] = [];
afterEach(async () => {
  for (const { server, socket } of servers.splice(0)) {
    await server.close(socket);
    await rm(dirname(socket), { recursive: true, force: true });
  }
});

async function serve(router: Router) {
  const socket = join(await mkdtemp(join(tmpdir(), 'berth-api-')), 'api.sock');
  const server = new ApiServer(router, silentLogger);
  await server.listen(socket);
  servers.push({ server, socket });
  return { socket, client: new ApiClient(socket) };
}

describe('API server', () => {
  it('listens on a root-only socket and serves JSON routes with parameters', async () => {
    const router = new Router().add({
      method: 'GET',
      path: '/v1/things/:id',
      handler: async (r) => ({ id: r.params.id }),
    });
    const { socket, client } = await serve(router);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    expect(await client.get('/v1/things/a%20b')).toEqual({ id: 'a b' });
  });

  it('maps typed errors to their codes and messages', async () => {
    const router = new Router()
      .add({
        method: 'GET',
        path: '/v1/missing',
        handler: async () => {
          throw new NotFoundError('container "x" not found');
        },
      })
      .add({
        method: 'POST',
        path: '/v1/bad',
        handler: async () => {
          throw new InvalidArgumentError('bad image reference "UPPER"');
        },
      });
    const { client } = await serve(router);
    await expect(client.get('/v1/missing')).rejects.toMatchObject({
      code: 'not_found',
      message: 'container "x" not found',
    });
    await expect(client.post('/v1/bad', {})).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.get('/v1/nothing-here')).rejects.toMatchObject({ code: 'not_found' });
    await expect(client.post('/v1/missing')).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('streams newline-delimited JSON', async () => {
    async function* three() {
      for (let i = 0; i < 3; i++) yield { i };
    }
    const router = new Router().add({
      method: 'GET',
      path: '/v1/stream',
      handler: async () => ({ stream: three() }),
    });
    const { client } = await serve(router);
    const got: unknown[] = [];
    for await (const item of client.stream('/v1/stream')) got.push(item);
    expect(got).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
  });

  it('rejects a body that is not JSON', async () => {
    const router = new Router().add({ method: 'POST', path: '/v1/echo', handler: async (r) => r.body });
    const { socket } = await serve(router);
    const res = await fetchUnix(socket, '/v1/echo', '{not json');
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/not valid JSON/);
  });

  it('removes its socket on close', async () => {
    const { socket } = await serve(new Router());
    const { server } = servers.pop()!;
    await server.close(socket);
    expect(existsSync(socket)).toBe(false);
    await rm(dirname(socket), { recursive: true, force: true });
  });

  it('tells the CLI clearly when berthd is not running', async () => {
    const client = new ApiClient('/nonexistent/berth.sock');
    await expect(client.get('/v1/info')).rejects.toThrow(
      'berthd is not running: no API socket at /nonexistent/berth.sock',
    );
  });
});

async function fetchUnix(
  socketPath: string,
  path: string,
  body: string,
): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
