/**
 * A fault-injecting HTTP proxy in front of a test registry. Faults match requests by method
 * and path and apply a fixed number of times; every request and the body bytes served for
 * it are recorded, so tests count what was transferred.
 */
import http from 'node:http';
import type net from 'node:net';

export type FaultAction =
  /** Send the first `afterBytes` body bytes, then close the connection. */
  | { kind: 'cut'; afterBytes: number }
  /** Send the first `afterBytes` body bytes, then go silent (the connection stays open). */
  | { kind: 'stall'; afterBytes: number }
  /** Send the first `afterBytes` body bytes, then hold the rest until `until` resolves. */
  | { kind: 'pause'; afterBytes: number; until: Promise<void> }
  /** Flip one byte of the body at `offset`. */
  | { kind: 'corrupt'; offset: number }
  /** Answer with this status, headers and body without asking the registry. */
  | {
      kind: 'respond';
      status: number;
      headers?: Record<string, string>;
      body?: string | Buffer;
      chunked?: boolean;
    }
  /** Forward, but replace response headers. */
  | { kind: 'headers'; headers: Record<string, string> };

export interface Fault {
  method?: string;
  /** Matched against the request path (without query). */
  path: RegExp;
  action: FaultAction;
  /** How many matching requests it applies to (default 1). */
  times?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
}

export interface FaultProxy {
  host: string;
  requests: ProxiedRequest[];
  addFault(f: Fault): void;
  /** Body bytes served for requests whose path ends with `suffix`. */
  bytesServed(suffix: string): number;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamHost: string): Promise<FaultProxy> {
  const [upHost, upPort] = upstreamHost.split(':');
  const faults: (Fault & { left: number })[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<net.Socket>();

  const server = http.createServer((req, res) => {
    const pathOnly = (req.url ?? '/').split('?')[0] ?? '/';
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: pathOnly, status: 0, bytes: 0 };
    if (req.headers.range) record.range = req.headers.range;
    if (req.headers.authorization) record.authorization = req.headers.authorization;
    requests.push(record);
    const fault = faults.find(
      (f) => f.left > 0 && (!f.method || f.method === req.method) && f.path.test(pathOnly),
    );
    if (fault) fault.left--;
    const action = fault?.action;

    if (action?.kind === 'respond') {
      const body = action.body === undefined ? Buffer.alloc(0) : Buffer.from(action.body);
      const headers: Record<string, string> = { ...action.headers };
      if (!action.chunked) headers['content-length'] = String(body.length);
      record.status = action.status;
      record.bytes = body.length;
      res.writeHead(action.status, headers);
      res.end(body);
      return;
    }

    const upstream = http.request(
      { host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const headers = { ...up.headers, ...(action?.kind === 'headers' ? action.headers : {}) };
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, headers);
        let sent = 0;
        let held: Buffer[] | undefined;
        up.on('data', (chunk: Buffer) => {
          let out = chunk;
          if (action?.kind === 'pause' && held === undefined && sent + out.length > action.afterBytes) {
            const part = out.subarray(0, action.afterBytes - sent);
            sent += part.length;
            record.bytes = sent;
            res.write(part);
            const waiting = [out.subarray(part.length)];
            held = waiting;
            up.pause();
            void action.until.then(() => {
              for (const h of waiting) {
                sent += h.length;
                record.bytes = sent;
                res.write(h);
              }
              up.resume();
            });
            return;
          }
          if (action?.kind === 'corrupt' && action.offset >= sent && action.offset < sent + chunk.length) {
            out = Buffer.from(chunk);
            out[action.offset - sent] = (out[action.offset - sent] ?? 0) ^ 0xff;
          }
          if (action?.kind === 'cut' && sent + out.length >= action.afterBytes) {
            const part = out.subarray(0, action.afterBytes - sent);
            sent += part.length;
            record.bytes = sent;
            up.destroy();
            // Close only once the bytes are handed to the kernel, so the client receives exactly them.
            res.write(part, () => res.socket?.destroy());
            return;
          }
          if (action?.kind === 'stall' && sent + out.length >= action.afterBytes) {
            const part = out.subarray(0, action.afterBytes - sent);
            sent += part.length;
            record.bytes = sent;
            up.destroy();
            res.write(part);
            return;
          }
          sent += out.length;
          record.bytes = sent;
          res.write(out);
        });
        up.on('end', () => res.end());
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      record.status = 502;
      res.writeHead(502).end();
    });
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    addFault: (f) => faults.push({ ...f, left: f.times ?? 1 }),
    bytesServed: (suffix) => requests.filter((r) => r.path.endsWith(suffix)).reduce((n, r) => n + r.bytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
