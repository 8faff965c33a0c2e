/** Wire types shared by the API server and its clients (the `berth` CLI). */
import type { RelayStatus } from '../events/relay.js';

/** Every error response has this body; `code` is a BerthError code. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

export type ServiceHealth = 'healthy' | 'unhealthy' | 'starting' | 'stopped';

export interface ServiceInfo {
  name: string;
  version: string;
  address: string;
  /** "embedded" when berthd started and supervises it, "external" when given by address. */
  mode: 'embedded' | 'external';
  health: ServiceHealth;
  /** Why the service is unhealthy, or restarts so far for embedded services. */
  detail?: string;
  restarts?: number;
}

export interface NodeInfo {
  nodeId: string;
  berthdVersion: string;
  pid: number;
  startedAt: string;
  taskQueue: string;
  paths: { root: string; state: string; apiSocket: string; criSocket: string };
  runtimes: { name: string; path: string; version: string }[];
  services: ServiceInfo[];
  /** The embedded Temporal server's Web UI (`http://127.0.0.1:<port>`); absent unless --temporal-ui-port is set. */
  temporalUi?: string;
  /** The Prometheus endpoint (`http://<address>/metrics`); absent unless --metrics-address is set. */
  metrics?: string;
  /** The event log: its last seq, and how far the NATS relay has published. */
  events?: {
    lastSeq: number;
    relay?: RelayStatus;
    /** The node's head-signing key (ed25519) and where its signed heads go (docs/audit.md). */
    signing?: {
      keyId: string;
      /** base64 of the raw 32-byte public key. */
      publicKey: string;
      pem: string;
      headsStream: string;
      latestHead?: number;
    };
  };
}
