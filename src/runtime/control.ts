/**
 * conmon's control FIFO (`ctl` in the bundle, or under persist/ in some builds): one line per message,
 * "<type> <height> <width>". Type 1 resizes the container's terminal, type 2 reopens the log file.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';

const RESIZE = 1;
const REOPEN_LOGS = 2;
/** conmon refuses sizes above this. */
const MAX_TERMINAL_CELLS = 1000;

async function sendControl(bundleDir: string, id: string, line: string, what: string): Promise<void> {
  for (const candidate of [join(bundleDir, 'ctl'), join(bundleDir, 'persist', 'ctl')]) {
    let fifo;
    try {
      // Non-blocking: with no conmon reading, opening for write fails (ENXIO) instead of hanging.
      fifo = await open(candidate, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'ENXIO')
        throw new FailedPreconditionError(`task ${id}: its conmon is gone, cannot ${what}`);
      throw err;
    }
    try {
      await fifo.write(line);
    } finally {
      await fifo.close();
    }
    return;
  }
  throw new FailedPreconditionError(`task ${id}: conmon's control FIFO is missing, cannot ${what}`);
}

export function reopenLogThroughConmon(bundleDir: string, id: string): Promise<void> {
  return sendControl(bundleDir, id, `${REOPEN_LOGS} 0 0\n`, 'reopen its log');
}

export function resizeThroughConmon(
  bundleDir: string,
  id: string,
  size: { width: number; height: number },
): Promise<void> {
  for (const [name, v] of Object.entries(size))
    if (!Number.isInteger(v) || v < 0 || v > MAX_TERMINAL_CELLS)
      throw new InvalidArgumentError(`terminal ${name} ${v} is not an integer in 0..${MAX_TERMINAL_CELLS}`);
  return sendControl(bundleDir, id, `${RESIZE} ${size.height} ${size.width}\n`, 'resize its terminal');
}
