/**
 * A pod-shared PID namespace (Kubernetes shareProcessNamespace, CRI pid mode POD). Unlike network,
 * IPC and UTS, a PID namespace cannot outlive its first process: once that process exits nobody can
 * enter it. So a pod that shares one gets a holder: a tiny perl process that unshares a PID
 * namespace, forks, and as that namespace's PID 1 reaps orphans (as the pause container does) until
 * it is killed. Killing it kills every process in the namespace, which is what a pod's end should do.
 *
 * The namespace is pinned like the others (`<ns>/pid/<id>`, a bind mount of the holder's nsfs file)
 * so containers join it by path. The holder's pid and start time are kept in `<ns>/pid-holders/<id>`;
 * its command line names the pin, so a holder left by a crash before that record was written is
 * still found (`findHolders`).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../common/errors.js';
import { execFile } from '../common/exec.js';
import { procStat } from '../common/proc.js';
import { isMountPoint, unmountAll } from './mounts.js';

// unshare(2) numbers: x86_64 272, aarch64 97. CLONE_NEWPID = 0x20000000.
const HOLDER = String.raw`
use strict; use warnings; use POSIX ();
my %nr = (x86_64 => 272, aarch64 => 97);
my $arch = (POSIX::uname())[4];
my $unshare = $nr{$arch} or die "unsupported architecture $arch\n";
syscall($unshare, 0x20000000) == 0 or die "unshare(CLONE_NEWPID): $!\n";
my $pid = fork() // die "fork: $!\n";
if ($pid) { syswrite(STDOUT, "$pid\n"); POSIX::_exit(0); }
POSIX::setsid();
open(STDIN, '<', '/dev/null'); open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
$0 = "berth-pid-holder $ARGV[0]";
$SIG{CHLD} = sub { 1 while waitpid(-1, POSIX::WNOHANG()) > 0 };
sleep 3600 while 1;
`;

interface HolderRecord {
  pid: number;
  startTicks: string;
}

export class PidNamespaceHolders {
  private readonly pinDir: string;
  private readonly recordDir: string;

  constructor(nsDir: string) {
    this.pinDir = path.join(nsDir, 'pid');
    this.recordDir = path.join(nsDir, 'pid-holders');
  }

  pinOf(id: string): string {
    return path.join(this.pinDir, id);
  }

  /**
   * Starts the holder and pins its namespace; returns the pin. Idempotent: a live, pinned holder is
   * kept; anything partial (a crash between the steps) is released first. With `usernsPin` (a pod
   * with its own user namespace) the holder runs as that namespace's root, so the PID namespace is
   * owned by it and the pod's containers, which join the user namespace first, may join it.
   */
  async pin(id: string, usernsPin?: string): Promise<string> {
    const pin = this.pinOf(id);
    const current = await this.record(id);
    if (current && this.alive(current) && (await isMountPoint(pin))) return pin;
    await this.release(id);
    await mkdir(this.pinDir, { recursive: true });
    await mkdir(this.recordDir, { recursive: true });
    // Written before the holder exists, so a crash right after its start still leads release()
    // to look for it.
    await writeFile(path.join(this.recordDir, id), JSON.stringify({ pid: 0, startTicks: '' }));
    const pid = await this.startHolder(pin, usernsPin);
    const startTicks = procStat(pid)?.startTicks;
    if (!startTicks)
      throw new BerthError('internal', `the PID namespace holder of sandbox ${id} exited at once`);
    await writeFile(
      path.join(this.recordDir, id),
      JSON.stringify({ pid, startTicks } satisfies HolderRecord),
    );
    await writeFile(pin, '');
    try {
      await execFile('mount', ['--bind', `/proc/${pid}/ns/pid`, pin]);
    } catch (err) {
      await this.release(id);
      throw new BerthError('internal', `cannot pin the PID namespace of sandbox ${id}: ${String(err)}`, {
        cause: err,
      });
    }
    return pin;
  }

  /** Kills the holder (and with it every process in the namespace) and removes the pin. Idempotent. */
  async release(id: string): Promise<void> {
    const pin = this.pinOf(id);
    const rec = await this.record(id);
    const pinExists = await stat(pin).then(
      () => true,
      () => false,
    );
    // Most pods do not share a PID namespace: nothing recorded, nothing pinned, nothing to look for.
    if (!rec && !pinExists) return;
    const pids = new Set(await this.findHolders(pin));
    if (rec && this.alive(rec)) pids.add(rec.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await unmountAll(pin);
    await rm(pin, { force: true });
    await rm(path.join(this.recordDir, id), { force: true });
  }

  /** Ids with a pin file or a holder record (for leftover sweeps). */
  async ids(): Promise<string[]> {
    const names = await Promise.all(
      [this.pinDir, this.recordDir].map((d) => readdir(d).catch(() => [] as string[])),
    );
    return [...new Set(names.flat())];
  }

  /** Holder processes whose command line names this pin. */
  async findHolders(pin: string): Promise<number[]> {
    const wanted = `berth-pid-holder ${pin}`;
    const found: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.replace(/\0/g, ' ').trim() === wanted) found.push(Number(entry));
    }
    return found;
  }

  private async record(id: string): Promise<HolderRecord | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.recordDir, id), 'utf8')) as HolderRecord;
    } catch {
      return undefined;
    }
  }

  private alive(rec: HolderRecord): boolean {
    const st = procStat(rec.pid);
    return st !== undefined && st.startTicks === rec.startTicks && st.state !== 'Z';
  }

  private startHolder(pin: string, usernsPin?: string): Promise<number> {
    const perl = ['perl', '-e', HOLDER, pin];
    // nsenter --user makes the process root (uid and gid 0) inside the namespace it enters.
    const [command, ...args] = usernsPin ? ['nsenter', `--user=${usernsPin}`, ...perl] : perl;
    return new Promise((resolve, reject) => {
      const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
      child.on('error', (e) =>
        reject(new BerthError('internal', `cannot run perl for a PID namespace: ${e.message}`)),
      );
      child.on('close', (code) => {
        const pid = Number(out.trim());
        if (code === 0 && pid > 0) resolve(pid);
        else
          reject(
            new BerthError(
              'internal',
              `cannot create a PID namespace: ${err.trim() || `perl exited with ${code}`}`,
            ),
          );
      });
    });
  }
}
