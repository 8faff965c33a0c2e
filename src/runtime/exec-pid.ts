/**
 * An exec's pid as soon as the runtime knows it: `runc exec --pid-file` writes the file (a rename
 * into place) once the process runs in the container. Watching the directory tells us then,
 * rather than after the exec has ended; a file the watch missed is read when the exec ends.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface PidWatch {
  /** Stops watching; reports the pid from the file if it was not reported yet and the file is there. */
  stop(): Promise<void>;
}

export function watchPidFile(pidPath: string, onPid: (pid: number) => void): PidWatch {
  let reported = false;
  const name = basename(pidPath);
  const report = async (): Promise<void> => {
    if (reported) return;
    const text = await readFile(pidPath, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (reported || !(pid > 0)) return;
    reported = true;
    watcher?.close();
    onPid(pid);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(pidPath), (_event, file) => {
      if (file === name) void report();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // the directory cannot be watched: the pid is read at the end
  }
  return {
    async stop() {
      watcher?.close();
      await report();
    },
  };
}
