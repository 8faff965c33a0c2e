/** Public surface of the registry client. */
export * from './reference.js';
export * from './errors.js';
export * from './config.js';
export * from './manifest.js';
export { RegistryClient, DEFAULT_MAX_MANIFEST_BYTES } from './client.js';
export type { FetchedManifest, FetchBlobOptions, FetchBlobResult, RegistryClientOptions } from './client.js';
export { Puller } from './puller.js';
export type { BlobProgress, PullOptions, PulledImage, PulledLayer, PullerOptions } from './puller.js';
export { pushBlob, pushImage, pushManifest } from './pusher.js';
export type { PushResult } from './pusher.js';
