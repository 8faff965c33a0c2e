/**
 * The on-disk layout of a berthd root and state dir. Creating it is the first write berthd
 * makes, after configuration and external services have been validated.
 */
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import type { DaemonConfig } from './config.js';

export interface RootLayout {
  root: string;
  state: string;
  lockFile: string;
  eventsDir: string;
  contentDir: string;
  snapshotsDir: string;
  temporalDir: string;
  natsDir: string;
  logsDir: string;
  /** Ports chosen for embedded services, kept so a restarted child comes back on the same address. */
  endpointsFile: string;
}

export function rootLayout(config: DaemonConfig): RootLayout {
  const { root, state } = config;
  return {
    root,
    state,
    lockFile: join(root, 'berthd.lock'),
    eventsDir: join(root, 'events'),
    contentDir: join(root, 'content'),
    snapshotsDir: join(root, 'snapshots'),
    temporalDir: join(root, 'temporal'),
    natsDir: join(root, 'nats'),
    logsDir: join(root, 'logs'),
    endpointsFile: join(root, 'endpoints.json'),
  };
}

/** Fails, without creating anything, when a directory cannot be created or written. */
export async function checkWritable(dir: string, what: string): Promise<void> {
  let probe = dir;
  for (;;) {
    try {
      const s = await stat(probe);
      if (!s.isDirectory())
        throw new FailedPreconditionError(`${what} ${dir} is not usable: ${probe} is not a directory`);
      await access(probe, constants.W_OK);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(probe) !== probe) {
        probe = dirname(probe);
        continue;
      }
      if (err instanceof FailedPreconditionError) throw err;
      throw new FailedPreconditionError(`${what} ${dir} is not writable: ${errorMessage(err)}`);
    }
  }
}

export async function createLayout(layout: RootLayout): Promise<void> {
  await mkdir(layout.root, { recursive: true, mode: 0o711 });
  await mkdir(layout.state, { recursive: true, mode: 0o711 });
  for (const dir of [
    layout.eventsDir,
    layout.contentDir,
    layout.snapshotsDir,
    layout.temporalDir,
    layout.natsDir,
    layout.logsDir,
  ]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
}
