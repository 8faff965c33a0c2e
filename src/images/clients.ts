/**
 * Registry access for one pull or push: the node's shared client and puller, or, when the
 * request brought its own credentials (the CRI's AuthConfig, `berth pull --user`), a client whose
 * config carries them for that registry host only.
 */
import { UnimplementedError } from '../common/errors.js';
import type { NodeServices } from '../daemon/node-services.js';
import { Puller, RegistryClient, type ImageReference } from '../registry/index.js';
import type { PullCredentials } from './session.js';

export interface RegistryAccess {
  client: RegistryClient;
  puller: Puller;
  close(): Promise<void>;
}

export function registryAccess(
  node: Pick<NodeServices, 'registry' | 'puller' | 'content' | 'logger'>,
  ref: ImageReference,
  creds: PullCredentials | undefined,
): RegistryAccess {
  if (
    !creds ||
    (creds.username === undefined &&
      creds.password === undefined &&
      !creds.identityToken &&
      !creds.registryToken)
  ) {
    return { client: node.registry, puller: node.puller, close: async () => undefined };
  }
  if (creds.identityToken || creds.registryToken) {
    throw new UnimplementedError(
      `${ref.domain}: identity and registry tokens are not supported yet; pass a username and password`,
    );
  }
  const base = node.registry.transport.config;
  const client = new RegistryClient({
    config: {
      ...base,
      hosts: {
        ...base.hosts,
        [ref.domain]: {
          ...base.hosts[ref.domain],
          username: creds.username ?? '',
          password: creds.password ?? '',
        },
      },
    },
    logger: node.logger.child({ subsystem: 'registry' }),
  });
  const puller = new Puller({
    client,
    store: node.content,
    logger: node.logger.child({ subsystem: 'pull' }),
  });
  return { client, puller, close: () => client.close() };
}
