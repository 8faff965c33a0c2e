/** Test helpers: TCP listeners and clients inside pinned network namespaces (busybox nc; no DNS). */
import { spawn } from 'node:child_process';
import { execFile } from '../../src/common/exec.js';

/** True once a TCP socket is in LISTEN state on `port` in the namespace (read from its /proc/net/tcp). */
async function isListening(netns: string, port: number): Promise<boolean> {
  // busybox nc listens on the IPv6 wildcard (dual stack), which /proc/net/tcp6 lists.
  const tcp = await execFile('nsenter', [`--net=${netns}`, 'cat', '/proc/net/tcp', '/proc/net/tcp6']);
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return tcp.split('\n').some((l) => {
    const cols = l.trim().split(/\s+/);
    return cols[1]?.endsWith(`:${hex}`) === true && cols[3] === '0A';
  });
}

export interface Listener {
  /** Everything the first client sent, once it closed the connection. */
  received: Promise<string>;
  stop(): void;
}

/** Starts `busybox nc -l` in the namespace and resolves once it is accepting connections. */
export async function listenIn(netns: string, port: number): Promise<Listener> {
  // stdin stays open: at the end of its input busybox nc shuts down its sending half, and a client
  // that sees that EOF before it has sent anything exits without sending.
  const child = spawn('nsenter', [`--net=${netns}`, 'busybox', 'nc', '-l', '-p', String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.on('error', () => undefined);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  const received = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    // 'close', not 'exit': nc can exit before Node has read all it wrote to the pipe.
    child.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  // Readiness, not a retry: the kernel shows the socket in LISTEN state before anyone connects.
  while (!(await isListening(netns, port))) {
    if (child.exitCode !== null) throw new Error(`nc -l -p ${port} exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  void received.finally(() => child.stdin.end());
  return { received, stop: () => child.kill('SIGKILL') };
}

/** Connects from inside the namespace and sends `message`. */
export async function sendFrom(netns: string, ip: string, port: number, message: string): Promise<void> {
  await execFile('nsenter', [`--net=${netns}`, 'busybox', 'nc', '-w', '5', ip, String(port)], {
    input: message,
    timeoutMs: 20_000,
  });
}
