/** The host's listening TCP sockets, from `ss -ltnpH`: which address each is bound to, and by whom. */
import { execFile } from '../../src/common/exec.js';

export interface TcpListener {
  /** The bound address as ss prints it: `127.0.0.1`, `0.0.0.0`, `*`, `[::]`, `[::1]`, … */
  address: string;
  port: number;
  /** The processes holding the socket (needs root to see other users' processes). */
  pids: number[];
}

export async function tcpListeners(): Promise<TcpListener[]> {
  const out = await execFile('ss', ['-ltnpH']);
  return out
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      // State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M),…)]
      const local = line.trim().split(/\s+/)[3]!;
      const colon = local.lastIndexOf(':');
      return {
        address: local.slice(0, colon).replace(/%\S+$/, ''), // drop an interface suffix (127.0.0.53%lo)
        port: Number(local.slice(colon + 1)),
        pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])),
      };
    });
}

/** The listening sockets on `port`, on any address. */
export async function listenersOn(port: number): Promise<TcpListener[]> {
  return (await tcpListeners()).filter((l) => l.port === port);
}
