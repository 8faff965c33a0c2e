/** The items of a comma-separated flag value, trimmed, empty ones dropped. */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A NATS address as flags take it: one URL, or a cluster's servers comma-separated. */
export const natsServerList = commaList;
