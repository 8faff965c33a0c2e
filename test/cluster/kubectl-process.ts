/**
 * A kubectl running beside a test (watch, logs -f, exec, attach, port-forward): its output as it
 * comes, its stdin, its exit. With `tty`, kubectl runs on a pseudo-terminal made by util-linux's
 * `script`, 30 rows by 100 columns, which `resize` changes as a terminal window would.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../helpers/berthd.js';

export interface KubectlProcess {
  stdout(): string;
  stderr(): string;
  write(text: string): void;
  /** Resolves with the first match of `re` in stdout; fails with what came after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** The exit code (128 + signal when killed); fails if still running after `timeoutMs`. */
  exited(timeoutMs: number): Promise<number>;
  /** The terminal's new size (tty only): kubectl sees SIGWINCH and sends a resize. */
  resize(rows: number, cols: number): Promise<void>;
  kill(): void;
}

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

export function startKubectl(
  /** kubectl's flags for the cluster (Cluster.kubectlFlags). */
  flags: string[],
  args: string[],
  opts: { tty?: boolean } = {},
): KubectlProcess {
  const kubectl = [path.join(TOOLS_BIN, 'kubectl'), ...flags, ...args];
  // The shell inside `script` owns the terminal: it sets the size, names the terminal for
  // resize(), then becomes kubectl.
  const ttyDir = opts.tty ? mkdtempSync(path.join(tmpdir(), 'berth-kubectl-tty-')) : undefined;
  const proc = ttyDir
    ? spawn(
        'script',
        [
          '-qefc',
          `stty rows 30 cols 100; tty > ${quote(path.join(ttyDir, 'tty'))}; exec ${kubectl.map(quote).join(' ')}`,
          '/dev/null',
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      )
    : spawn(kubectl[0]!, kubectl.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of waiters) w();
  };
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    notify();
  });
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
    notify();
  });
  const exit = new Promise<number>((resolve) =>
    proc.once('exit', (code, signal) => {
      notify();
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
    }),
  );
  void exit.then(() => (ttyDir ? rm(ttyDir, { recursive: true, force: true }) : undefined));
  const describe = (): string => `kubectl ${args.join(' ')}\nstdout:\n${out}\nstderr:\n${err}`;
  return {
    stdout: () => out,
    stderr: () => err,
    write: (text) => void proc.stdin!.write(text),
    waitForOutput(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out);
          if (m) {
            done();
            resolve(m);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`exited before printing ${re}: ${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${re} after ${timeoutMs / 1000} s: ${describe()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async exited(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still running after ${timeoutMs / 1000} s: ${describe()}`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async resize(rows, cols) {
      if (!ttyDir) throw new Error('resize: kubectl has no terminal (start it with tty)');
      const tty = (await readFile(path.join(ttyDir, 'tty'), 'utf8')).trim();
      await execFile('stty', ['-F', tty, 'rows', String(rows), 'cols', String(cols)]);
    },
    kill: () => void proc.kill('SIGTERM'),
  };
}
