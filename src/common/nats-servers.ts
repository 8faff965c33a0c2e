/** A NATS address as flags take it: one URL, or a cluster's servers comma-separated. */
export function natsServerList(urls: string): string[] {
  return urls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}
