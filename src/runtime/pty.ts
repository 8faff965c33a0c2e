/**
 * Running a command on a fresh pseudo-terminal, for `runc exec --tty` in the foreground: runc makes
 * the container's terminal itself but insists its own stdio be a terminal (it copies between the two
 * and follows its window size), and Node cannot open one. A perl helper (perl-base, as in
 * src/unpack/sysops.ts) opens /dev/ptmx, puts the terminal in raw mode before the command starts (so
 * early input is not echoed by this outer terminal), makes it the command's controlling terminal and
 * copies: its stdin to the terminal, the terminal to its stdout. Lines "<rows> <cols>" on fd 3 resize
 * the terminal (the kernel then sends SIGWINCH, and runc resizes the container's). The helper exits
 * with the command's exit code (128 + signal when killed); its end of input becomes a ^D.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const HELPER = String.raw`
use strict; use warnings; use POSIX qw(:termios_h :sys_wait_h setsid); use Fcntl;
my ($rows, $cols, @cmd) = @ARGV;
# ioctl numbers are the same on x86_64 and aarch64 (asm-generic).
my ($TIOCSPTLCK, $TIOCGPTN, $TIOCSWINSZ, $TIOCSCTTY) = (0x40045431, 0x80045430, 0x5414, 0x540E);
sysopen(my $m, '/dev/ptmx', O_RDWR | O_NOCTTY) or die "cannot open /dev/ptmx: $!\n";
my $unlock = pack('i', 0); ioctl($m, $TIOCSPTLCK, $unlock) or die "cannot unlock the terminal: $!\n";
my $n = pack('i', 0); ioctl($m, $TIOCGPTN, $n) or die "cannot name the terminal: $!\n";
my $slave = '/dev/pts/' . unpack('i', $n);
my $ws = pack('S4', $rows, $cols, 0, 0); ioctl($m, $TIOCSWINSZ, $ws);
# Raw before the command starts, so input that arrives early is not echoed by this terminal.
sysopen(my $s, $slave, O_RDWR | O_NOCTTY) or die "cannot open $slave: $!\n";
my $t = POSIX::Termios->new; $t->getattr(fileno $s);
$t->setiflag($t->getiflag & ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON));
$t->setoflag($t->getoflag & ~OPOST);
$t->setlflag($t->getlflag & ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN));
$t->setcflag(($t->getcflag & ~(CSIZE | PARENB)) | CS8);
$t->setattr(fileno $s, TCSANOW) or die "cannot make the terminal raw: $!\n";
my $pid = fork() // die "fork: $!\n";
if ($pid == 0) {
  setsid();
  ioctl($s, $TIOCSCTTY, 0);
  open(STDIN, '<&', $s) or die; open(STDOUT, '>&', $s) or die; open(STDERR, '>&', $s) or die;
  close $s; close $m;
  exec { $cmd[0] } @cmd or POSIX::_exit(127);
}
close $s;
open(my $ctl, '<&=', 3) or die "no control fd: $!\n";
my ($in_open, $ctl_open, $status, $ctl_buf) = (1, 1, undef, '');
while (1) {
  my $r = ''; vec($r, fileno $m, 1) = 1;
  vec($r, fileno STDIN, 1) = 1 if $in_open; vec($r, fileno $ctl, 1) = 1 if $ctl_open;
  my $ready = select(my $rout = $r, undef, undef, defined $status ? 0.05 : 0.2);
  if ($ready > 0 && vec($rout, fileno $m, 1)) {
    my $got = sysread($m, my $buf, 65536);
    last if !$got;    # EIO: the command and everything it started closed the terminal
    syswrite(STDOUT, $buf);
  }
  if ($ready > 0 && $in_open && vec($rout, fileno STDIN, 1)) {
    my $got = sysread(STDIN, my $buf, 65536);
    if ($got) { syswrite($m, $buf); } else { $in_open = 0; syswrite($m, "\x04"); }
  }
  if ($ready > 0 && $ctl_open && vec($rout, fileno $ctl, 1)) {
    my $got = sysread($ctl, my $buf, 4096);
    if (!$got) { $ctl_open = 0; } else {
      $ctl_buf .= $buf;
      while ($ctl_buf =~ s/^(\d+) (\d+)\n//) { my $w = pack('S4', $1, $2, 0, 0); ioctl($m, $TIOCSWINSZ, $w); }
    }
  }
  if (!defined $status && waitpid($pid, WNOHANG) == $pid) { $status = $?; }
  last if defined $status && $ready == 0;
}
waitpid($pid, 0) if !defined $status;
$status //= $?;
POSIX::_exit(WIFSIGNALED($status) ? 128 + WTERMSIG($status) : WEXITSTATUS($status));
`;

export interface TerminalSize {
  width: number;
  height: number;
}

/** Writes one resize request to a helper started by spawnOnTerminal. */
export function resizeTerminal(helper: ChildProcess, size: TerminalSize): void {
  const control = helper.stdio[3] as NodeJS.WritableStream | null;
  control?.write(`${Math.max(0, Math.round(size.height))} ${Math.max(0, Math.round(size.width))}\n`);
}

/**
 * Spawns `argv` on a new terminal of `size`; stdin (pipe) is its input, stdout (pipe) everything it
 * writes, stderr the helper's own complaints. Resize with resizeTerminal.
 */
export function spawnOnTerminal(
  argv: readonly string[],
  size: TerminalSize = { width: 80, height: 24 },
): ChildProcess {
  const [command, ...args] = argv;
  if (!command) throw new Error('spawnOnTerminal needs a command');
  const helper = spawn('perl', ['-e', HELPER, String(size.height), String(size.width), command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  (helper.stdio[3] as NodeJS.WritableStream).on('error', () => undefined);
  return helper;
}
