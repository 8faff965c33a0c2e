/**
 * The spawner process (see spawner.ts): runs each program it is sent, captures its output and
 * sends the result back over the IPC channel. It stays small, so forking it is cheap; it exits
 * when its parent goes.
 */
import { spawn } from 'node:child_process';
import type { SpawnReply, SpawnRequest } from './spawner.js';

function run(req: SpawnRequest): void {
  const reply = (r: Omit<SpawnReply, 'id'>) => process.send?.({ id: req.id, ...r });
  let child;
  try {
    child = spawn(req.file, req.args, { env: req.env, cwd: req.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    reply({ error: (e as Error).message });
    return;
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const timer =
    req.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), req.timeoutMs) : undefined;
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.on('error', (e) => {
    clearTimeout(timer);
    reply({ error: e.message });
  });
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    reply({ code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(req.input ? Buffer.from(req.input) : '');
}

process.on('message', (req: SpawnRequest) => run(req));
process.on('disconnect', () => process.exit(0));
