/**
 * Loopback ports for embedded services. Chosen free once, then recorded under the root so a
 * restarted child (or a restarted berthd) comes back on the same address and clients reconnect.
 */
import { createServer } from 'node:net';
import { readFile, writeFile, rename } from 'node:fs/promises';

export interface EmbeddedEndpoints {
  temporal: {
    frontendPort: number;
    httpPort: number;
    metricsPort: number;
    /** The Web UI's port: the operator's (--temporal-ui-port), never chosen or moved here. */
    uiPort?: number;
    pid?: number;
    startTicks?: string;
  };
  nats: { clientPort: number; pid?: number; startTicks?: string };
}

/**
 * A free loopback port for a service to listen on, chosen below the kernel's ephemeral range:
 * outgoing connections take their source ports from that range, so a port chosen there can be
 * taken by any client between the choice and the child's bind.
 */
export async function freePort(avoid: readonly number[] = []): Promise<number> {
  const ephemeralLow = await ephemeralRangeStart();
  const low = 10_000;
  for (let i = 0; i < 64 && ephemeralLow - low > 1000; i++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    if (!avoid.includes(port) && (await isPortFree(port))) return port;
  }
  for (;;) {
    const port = await kernelChosenPort();
    if (!avoid.includes(port)) return port;
  }
}

async function ephemeralRangeStart(): Promise<number> {
  try {
    const [first] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/);
    const port = Number(first);
    return Number.isInteger(port) && port > 0 ? port : 32768;
  } catch {
    return 32768;
  }
}

function kernelChosenPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function readRecordedEndpoints(file: string): Promise<Partial<EmbeddedEndpoints>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Partial<EmbeddedEndpoints>;
  } catch {
    return {}; // first start, or an unreadable file: fresh ports will be chosen
  }
}

/**
 * Keeps each recorded port that is still free and picks a new free one for the others; the
 * Temporal UI's port, when given, is recorded as is and no other service gets it.
 */
export async function assignPorts(
  recorded: Partial<EmbeddedEndpoints>,
  temporalUiPort?: number,
): Promise<EmbeddedEndpoints> {
  const avoid = reserved(temporalUiPort);
  const keep = async (port: number | undefined): Promise<number> =>
    port !== undefined && !avoid.includes(port) && (await isPortFree(port)) ? port : freePort(avoid);
  const { uiPort: _previousUiPort, ...temporal } = recorded.temporal ?? {};
  return {
    temporal: {
      ...temporal,
      frontendPort: await keep(recorded.temporal?.frontendPort),
      httpPort: await keep(recorded.temporal?.httpPort),
      metricsPort: await keep(recorded.temporal?.metricsPort),
      ...(temporalUiPort !== undefined ? { uiPort: temporalUiPort } : {}),
    },
    nats: { ...recorded.nats, clientPort: await keep(recorded.nats?.clientPort) },
  };
}

/**
 * Fresh ports for one service, after its child died at startup (perhaps on a port taken meanwhile);
 * the Temporal UI's port stays (it is the operator's choice).
 */
export async function reassignPorts(
  endpoints: EmbeddedEndpoints,
  service: 'temporal' | 'nats',
): Promise<void> {
  const uiPort = endpoints.temporal.uiPort;
  const avoid = reserved(uiPort);
  if (service === 'temporal') {
    endpoints.temporal = {
      frontendPort: await freePort(avoid),
      httpPort: await freePort(avoid),
      metricsPort: await freePort(avoid),
      ...(uiPort !== undefined ? { uiPort } : {}),
    };
  } else {
    endpoints.nats = { clientPort: await freePort(avoid) };
  }
}

function reserved(temporalUiPort: number | undefined): number[] {
  return temporalUiPort === undefined ? [] : [temporalUiPort];
}

export async function saveEndpoints(file: string, endpoints: EmbeddedEndpoints): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(endpoints, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}
