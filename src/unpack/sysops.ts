/**
 * System calls Node's fs lacks (mknod, extended attributes), made by one long-lived perl
 * co-process per user: perl-base is part of every Debian system and its `syscall` builtin
 * reaches mknodat/lsetxattr/lgetxattr/llistxattr directly. One process serves a whole layer,
 * so a device node or an xattr costs a pipe round trip (tens of microseconds), not a fork+exec
 * of mknod(1)/setfattr(1) (which is also not installed here).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';

// Syscall numbers per architecture: [mknodat, lsetxattr, lgetxattr, llistxattr].
const SCRIPT = String.raw`
use strict; use warnings;
my %nr = (x86_64 => [259, 189, 192, 195], aarch64 => [33, 6, 9, 12]);
my $arch = eval { require POSIX; (POSIX::uname())[4] } // 'x86_64';
my $t = $nr{$arch} or die "berth sysops: unsupported architecture $arch\n";
my ($MKNODAT, $LSETXATTR, $LGETXATTR, $LLISTXATTR) = @$t;
$| = 1;
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, @a) = split /\t/, $line, -1;
  @a = map { pack('H*', $_) } @a;
  my $r; my $out = '';
  if ($op eq 'mknod') { $r = syscall($MKNODAT, -100, $a[0], $a[1] + 0, $a[2] + 0); }
  elsif ($op eq 'setx') { my $v = $a[2]; $r = syscall($LSETXATTR, $a[0], $a[1], $v, length($v), 0); }
  elsif ($op eq 'getx') { my $b = "\0" x 65536; $r = syscall($LGETXATTR, $a[0], $a[1], $b, 65536); $out = unpack('H*', substr($b, 0, $r)) if $r >= 0; }
  elsif ($op eq 'listx') { my $b = "\0" x 65536; $r = syscall($LLISTXATTR, $a[0], $b, 65536); $out = unpack('H*', substr($b, 0, $r)) if $r >= 0; }
  else { print "err\t22\n"; next; }
  if ($r < 0) { print "err\t", ($! + 0), "\n"; } else { print "ok\t$out\n"; }
}
`;

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, num]) => [num, name]));

export type SysError = Error & { code: string; errno: number; path: string; syscall: string };

function sysError(syscall: string, path: string, errno: number): SysError {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`${syscall} ${path}: ${code}`), { code, errno, path, syscall });
}

const hex = (v: string | Buffer): string => Buffer.from(v).toString('hex');

/** Linux's makedev: major and minor packed into a dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

/**
 * A perl co-process making mknod and xattr system calls in order; `close` it when done. The
 * process starts on the first call: most layers have no devices or xattrs, and a spawn per
 * layer cost tens of milliseconds of main-thread time on a loaded machine.
 */
export class SysOps {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: Array<{
    resolve: (out: string) => void;
    reject: (e: Error) => void;
    syscall: string;
    path: string;
  }> = [];
  private dead: Error | undefined;

  private started(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('perl', ['-e', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (e) => this.fail(new Error(`cannot run perl for mknod/xattr calls: ${e.message}`)));
    child.on('close', (code) => this.fail(new Error(`perl helper exited (${code}): ${stderr.trim()}`)));
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      const [status, value = ''] = line.split('\t');
      if (status === 'ok') w.resolve(value);
      else w.reject(sysError(w.syscall, w.path, Number(value)));
    });
    return child;
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private call(syscall: string, path: string, args: Array<string | Buffer>): Promise<string> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const child = this.started();
      this.waiting.push({ resolve, reject, syscall, path });
      child.stdin.write(`${[syscall, ...args.map(hex)].join('\t')}\n`);
    });
  }

  /** mknod(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO); subject to the umask. */
  async mknod(path: string, mode: number, major = 0, minor = 0): Promise<void> {
    await this.call('mknod', path, [path, String(mode), makedev(major, minor).toString()]);
  }

  /** lsetxattr(2): sets an extended attribute without following a final symlink. */
  async lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
    await this.call('setx', path, [path, name, value]);
  }

  async lgetxattr(path: string, name: string): Promise<Buffer> {
    return Buffer.from(await this.call('getx', path, [path, name]), 'hex');
  }

  async llistxattr(path: string): Promise<string[]> {
    const raw = Buffer.from(await this.call('listx', path, [path]), 'hex').toString('utf8');
    return raw.split('\0').filter((n) => n.length > 0);
  }

  /** Ends the co-process (if it was started) once pending calls are answered. */
  async close(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || this.dead) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdin.end();
    await closed;
  }
}
