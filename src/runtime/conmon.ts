/**
 * Starting conmon 2.1.6 as a container's monitor. conmon double-forks, so the monitor is re-parented away
 * from Node and survives it; it runs the runtime's `create`, keeps the container's stdio, writes CRI logs
 * and, when the container exits, the exit code to `<exitDir>/<id>`.
 *
 * conmon reports the result of `create` on its sync pipe (`_OCI_SYNCPIPE`): `{"data": <pid>}` on success,
 * `{"data": -1, "message": "..."}` on failure. We wait for that message, so `start` never races `create`.
 */
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FailedPreconditionError, UnavailableError } from '../common/errors.js';
import { isRunning } from '../common/proc.js';

export interface ConmonOptions {
  conmonPath: string;
  id: string;
  bundleDir: string;
  runtimePath: string;
  runtimeArgs: readonly string[];
  /** File conmon writes the container's init pid to. */
  containerPidFile: string;
  /** File conmon writes its own pid to. */
  conmonPidFile: string;
  /** CRI log file. */
  logPath: string;
  /** Maximum log size in bytes before conmon truncates (-1: unlimited). */
  logSizeMax?: number;
  exitDir: string;
  /** Directory for conmon's `oom` and `exit` marker files. */
  persistDir: string;
  /** Where conmon links attach sockets; keep it short (unix socket paths are limited to 108 bytes). */
  socketDir: string;
  /** conmon's own stderr (its diagnostics). */
  conmonLogPath: string;
  /** Keep a pipe for the container's stdin. */
  stdin?: boolean;
  /** Close the stdin once the first attach session's input ends. */
  stdinOnce?: boolean;
  tty?: boolean;
  /** CRIU images: conmon runs the runtime's `restore --detach` from them instead of `create`. */
  restoreFrom?: string;
  /** Variables added to conmon's (and so the runtime's) environment, e.g. where CRIU is for a restore. */
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads the first JSON message conmon writes on the sync pipe. */
function readSyncMessage(pipe: Readable, timeoutMs: number): Promise<SyncMessage | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const finish = (msg: SyncMessage | undefined): void => {
      clearTimeout(timer);
      pipe.removeAllListeners('data');
      pipe.destroy();
      resolve(msg);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    pipe.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      try {
        finish(JSON.parse(text) as SyncMessage);
      } catch {
        // Incomplete JSON: wait for more.
      }
    });
    pipe.on('end', () => finish(undefined));
    pipe.on('error', () => finish(undefined));
  });
}

/** CRIU's own error lines from its log, without the harmless rlimit one it prints in a container. */
export function criuErrors(log: string): string[] {
  const lines = [...log.matchAll(/Error \([^)]*\): (.*)$/gm)].map((m) => (m[1] ?? '').trim());
  return [...new Set(lines.filter((l) => !/RLIMIT_NOFILE/.test(l) && !/^Dumping FAILED/.test(l)))];
}

/** The runtime's error lines (runc logs `level=error msg="..."`), without its warnings; the raw text otherwise. */
export function runtimeErrorText(raw: string): string {
  const errors = [...raw.matchAll(/level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/g)].map((m) =>
    (m[1] ?? '').replace(/\\(.)/g, '$1'),
  );
  return (errors.length > 0 ? errors.join('; ') : raw).trim().replace(/\s+/g, ' ');
}

/** Launches conmon for `create`; resolves with the container's init pid once the runtime has created it. */
export async function launchConmon(o: ConmonOptions): Promise<number> {
  const args = [
    '--api-version',
    '1',
    '--cid',
    o.id,
    '--cuuid',
    o.id,
    '--name',
    o.id,
    '--bundle',
    o.bundleDir,
    '--runtime',
    o.runtimePath,
    '--container-pidfile',
    o.containerPidFile,
    '--conmon-pidfile',
    o.conmonPidFile,
    '--log-path',
    `k8s-file:${o.logPath}`,
    '--exit-dir',
    o.exitDir,
    '--persist-dir',
    o.persistDir,
    '--socket-dir-path',
    o.socketDir,
    '--log-level',
    'error',
  ];
  if (o.logSizeMax !== undefined) args.push('--log-size-max', String(o.logSizeMax));
  // Without --leave-stdin-open conmon closes the stdin when an attach session's input ends.
  if (o.stdin) args.push('--stdin', ...(o.stdinOnce ? [] : ['--leave-stdin-open']));
  if (o.tty) args.push('--terminal');
  if (o.restoreFrom) args.push('--restore', o.restoreFrom);
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);

  const errFile = await open(o.conmonLogPath, 'a');
  const timeoutMs = o.timeoutMs ?? 30_000;
  try {
    const child = spawn(o.conmonPath, args, {
      cwd: o.bundleDir,
      detached: true,
      stdio: ['ignore', 'ignore', errFile.fd, 'pipe'],
      env: { ...process.env, ...o.env, _OCI_SYNCPIPE: '3' },
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const pipe = child.stdio[3] as Readable;
    const msg = await Promise.race([readSyncMessage(pipe, timeoutMs), spawnError]);
    child.unref();
    if (msg instanceof Error)
      throw new FailedPreconditionError(`cannot run conmon at ${o.conmonPath}: ${msg.message}`);
    if (msg === undefined) {
      const log = await readFile(o.conmonLogPath, 'utf8').catch(() => '');
      throw new UnavailableError(
        `conmon for ${o.id} did not report the result of create within ${timeoutMs} ms${log ? `: ${log.trim()}` : ''}`,
      );
    }
    if (msg.data < 0) {
      const why = runtimeErrorText(msg.message ?? 'unknown error');
      if (!o.restoreFrom) throw new FailedPreconditionError(`creating container ${o.id} failed: ${why}`);
      // CRIU's reasons are in its log in the work path, which conmon makes the bundle.
      const criu = criuErrors(await readFile(join(o.bundleDir, 'restore.log'), 'utf8').catch(() => ''));
      throw new FailedPreconditionError(
        `restoring container ${o.id} failed: ${criu.length > 0 ? criu.join('; ') : why}`,
      );
    }
    return msg.data;
  } finally {
    await errFile.close();
  }
}

/**
 * SIGKILLs the conmon of container `id` in `bundleDir` if it still runs (after a failed create, a
 * killed container, a lost runtime): `knownPid`, else the pid conmon wrote into the bundle. Only a
 * process whose command line names the container is killed, so a pid reused since is left alone.
 */
export async function killConmon(bundleDir: string, id: string, knownPid = 0): Promise<void> {
  const pid = knownPid || Number(await readFile(join(bundleDir, 'conmon.pid'), 'utf8').catch(() => '0'));
  if (!pid || !isRunning(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline.includes(id)) process.kill(pid, 'SIGKILL');
}
