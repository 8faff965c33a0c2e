/**
 * Live pull progress on core NATS (not JetStream, not the event log: progress is ephemeral and
 * a subscriber that misses some loses nothing). Subject: `berth.progress.<node>.pull.<id>`, where
 * <id> is the pull's workflow id with every character NATS treats specially replaced by '_'.
 * The activity publishes; ImageService subscribes for the API stream; anyone else may too.
 */
import { connect, JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { natsServerList } from '../common/nats-servers.js';
import type { NodeServices } from '../daemon/node-services.js';
import { readRecordedEndpoints } from '../daemon/endpoints.js';

/** One blob's progress within a pull. */
export interface LayerProgress {
  digest: string;
  kind: 'config' | 'layer';
  done: number;
  total: number;
  /** 'waiting' | 'fetching' | 'fetched' | 'unpacking' | 'unpacked' | 'reused' */
  status: string;
}

/** A progress message: the whole picture, so a subscriber joining late needs nothing earlier. */
export interface PullProgress {
  type: 'progress';
  ref: string;
  phase: 'resolve' | 'fetch' | 'unpack' | 'record';
  layers: LayerProgress[];
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last few seconds of the fetch. */
  rate: number;
}

export function progressSubject(nodeId: string, workflowId: string): string {
  return `berth.progress.${nodeId}.pull.${workflowId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

const codec = JSONCodec<PullProgress>();

/** One lazily opened NATS connection per node for progress; failures only cost progress. */
export class ProgressBus {
  private conn: Promise<NatsConnection | undefined> | undefined;

  constructor(private readonly node: Pick<NodeServices, 'config' | 'layout' | 'logger'>) {}

  private connection(): Promise<NatsConnection | undefined> {
    this.conn ??= (async () => {
      const url =
        this.node.config.natsUrl ??
        (async () => {
          const port = (await readRecordedEndpoints(this.node.layout.endpointsFile)).nats?.clientPort;
          return port === undefined ? undefined : `nats://127.0.0.1:${port}`;
        })();
      const servers = await url;
      if (!servers) return undefined;
      return connect({ servers: natsServerList(servers), reconnect: true, maxReconnectAttempts: -1 });
    })().catch((err: unknown) => {
      this.node.logger.warn({ err }, 'pull progress: cannot reach NATS; progress will not be published');
      this.conn = undefined;
      return undefined;
    });
    return this.conn;
  }

  async publish(subject: string, msg: PullProgress): Promise<void> {
    const nc = await this.connection();
    try {
      nc?.publish(subject, codec.encode(msg));
    } catch {
      // a closed or draining connection: progress is best effort
    }
  }

  /** Calls `fn` for each message on `subject` until the returned function is called. */
  async subscribe(subject: string, fn: (msg: PullProgress) => void): Promise<() => void> {
    const nc = await this.connection();
    if (!nc) return () => undefined;
    const sub: Subscription = nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) {
        try {
          fn(codec.decode(m.data));
        } catch {
          // a malformed message from some other publisher: ignore it
        }
      }
    })();
    // Make sure the server has the interest before the caller starts the pull.
    await nc.flush();
    return () => sub.unsubscribe();
  }

  async close(): Promise<void> {
    const nc = await this.conn;
    this.conn = undefined;
    await nc?.drain().catch(() => undefined);
  }
}

const buses = new WeakMap<object, ProgressBus>();

export function progressBus(
  node: Pick<NodeServices, 'config' | 'layout' | 'logger' | 'content'>,
): ProgressBus {
  let bus = buses.get(node.content);
  if (!bus) {
    bus = new ProgressBus(node);
    buses.set(node.content, bus);
  }
  return bus;
}
