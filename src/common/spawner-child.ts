/**
 * The spawner process (see spawner.ts): runs each program it is sent with execFileCapture (no
 * spawner is installed here, so it spawns directly) and sends the outcome back over the IPC
 * channel. It stays small, so forking it is cheap; it exits when its parent goes.
 */
import { errorMessage } from './errors.js';
import { execFileCapture } from './exec.js';
import type { SpawnReply, SpawnRequest } from './spawner.js';

process.on('message', (req: SpawnRequest) => {
  const reply = (r: SpawnReply) => process.send?.(r);
  execFileCapture(req.file, req.args, req.opts).then(
    (result) => reply({ id: req.id, result }),
    (err: unknown) => reply({ id: req.id, error: errorMessage(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
