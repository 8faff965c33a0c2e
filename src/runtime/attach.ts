/**
 * Attaching to a task's main process through conmon's attach socket (`<bundle>/attach`). conmon holds
 * the container's stdio for its whole life, so an attach reaches the live process even after a daemon
 * restart, and several clients may attach at once.
 *
 * The socket is SOCK_SEQPACKET, which Node's `net` cannot open, so a small perl bridge (perl-base is
 * on every Debian system, as for src/unpack/sysops.ts) connects to it and frames what conmon sends
 * onto its stdout as `<type u8><length u32be><bytes>`: type 0 once connected, 2 for the container's
 * stdout, 3 for its stderr (conmon tags each packet with that byte). Input is copied from the
 * bridge's stdin to the socket; at its end the bridge half-closes the socket, which is how conmon
 * learns an attach session's input is over (and, for a `stdinOnce` container, closes its stdin).
 */
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError } from '../common/errors.js';

const BRIDGE = String.raw`
use strict; use warnings; use Socket; use POSIX ();
my ($path, $withInput) = @ARGV;
socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un($path)) or die "cannot connect to conmon's attach socket: $!\n";
binmode STDOUT; binmode STDIN;
syswrite(STDOUT, pack('CN', 0, 0));
my $child = 0;
if ($withInput) {
  $child = fork() // die "fork: $!\n";
  if ($child == 0) {
    # conmon reads at most 32 KiB per packet: stay well under it.
    while (1) { my $n = sysread(STDIN, my $buf, 8192); last if !$n; defined send($s, $buf, 0) or last; }
    shutdown($s, 1);
    POSIX::_exit(0);
  }
}
close STDIN;
while (1) {
  my $r = recv($s, my $buf, 65536, 0);
  last if !defined $r || length($buf) == 0;
  defined syswrite(STDOUT, pack('CN', ord($buf), length($buf) - 1) . substr($buf, 1)) or last;
}
kill 'KILL', $child if $child;
POSIX::_exit(0);
`;

const CONNECTED = 0;
const STDOUT = 2;
const STDERR = 3;

export interface AttachStreams {
  /** Input for the process; forwarded only when the task was created with stdin. */
  stdin?: Readable;
  stdout?: Writable;
  /** The process's stderr; with a tty there is none (the terminal carries both). */
  stderr?: Writable;
  /** Ends the session (the client left); the process goes on. */
  signal?: AbortSignal;
}

/**
 * Connects to `<bundleDir>/attach` and copies until the process exits (conmon closes the socket) or
 * the session is aborted. Rejects with a FailedPreconditionError when conmon is not there to attach to.
 */
export function attachToConmon(bundleDir: string, streams: AttachStreams): Promise<void> {
  const withInput = streams.stdin !== undefined;
  // A relative path from the bundle: socket addresses are limited to 108 bytes, bundle paths are not.
  const bridge = spawn('perl', ['-e', BRIDGE, 'attach', withInput ? '1' : ''], {
    cwd: bundleDir,
    stdio: [withInput ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let connected = false;
  let pending: Buffer = Buffer.alloc(0);
  bridge.stdout!.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      const type = pending[0];
      const data = pending.subarray(5, 5 + length);
      pending = pending.subarray(5 + length);
      if (type === CONNECTED) connected = true;
      else if (type === STDOUT) streams.stdout?.write(data);
      else if (type === STDERR) (streams.stderr ?? streams.stdout)?.write(data);
    }
  });
  let diagnostics = '';
  bridge.stderr!.on('data', (b: Buffer) => (diagnostics += b.toString('utf8')));
  if (streams.stdin && bridge.stdin) {
    bridge.stdin.on('error', () => undefined);
    streams.stdin.pipe(bridge.stdin);
  }
  const leave = (): void => {
    bridge.kill('SIGKILL');
    // The forked input copier sees the end of its input and half-closes the socket.
    bridge.stdin?.end();
  };
  if (streams.signal?.aborted) leave();
  streams.signal?.addEventListener('abort', leave);
  return new Promise<void>((resolve, reject) => {
    bridge.on('error', (err) =>
      reject(new FailedPreconditionError(`cannot run perl to attach to ${bundleDir}: ${err.message}`)),
    );
    bridge.on('close', (code) => {
      streams.signal?.removeEventListener('abort', leave);
      if (streams.stdin && bridge.stdin) streams.stdin.unpipe(bridge.stdin);
      bridge.stdin?.end();
      if (!connected && !streams.signal?.aborted)
        reject(
          new FailedPreconditionError(
            `cannot attach: ${diagnostics.trim() || `the attach bridge exited with ${code}`} (is the container running?)`,
          ),
        );
      else resolve();
    });
  });
}
