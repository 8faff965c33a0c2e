/**
 * The Prometheus endpoint: `GET /metrics` in the text exposition format, nothing else. It listens
 * on the address the operator chose (loopback unless told otherwise) and carries no secrets, as
 * containerd's and CRI-O's metrics endpoints; a port already taken fails berthd's start.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FailedPreconditionError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { BerthMetrics } from './metrics.js';

export class MetricsServer {
  private constructor(
    private readonly server: Server,
    /** The address it listens on, e.g. `127.0.0.1:9323` (the port is the real one when 0 was asked). */
    readonly address: string,
  ) {}

  /** Where Prometheus scrapes it: `http://<address>/metrics`. */
  get url(): string {
    return `http://${this.address}/metrics`;
  }

  static async listen(
    metrics: BerthMetrics,
    where: { host: string; port: number },
    log: Logger,
  ): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://metrics').pathname;
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
        return;
      }
      metrics.scrape().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (err: unknown) => {
          log.error({ err }, 'metrics collection failed');
          res
            .writeHead(500, { 'content-type': 'text/plain' })
            .end(`metrics collection failed: ${errorMessage(err)}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new FailedPreconditionError(
            `--metrics-address ${where.host}:${where.port}: cannot listen: ${errorMessage(err)}`,
          ),
        ),
      );
      server.listen(where.port, where.host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    return new MetricsServer(server, address);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
