/**
 * Temporal's floor, measured in the same run as a bench's timings: berthd's metrics endpoint
 * (src/metrics) is read before and after the timed part, and the difference gives, per workflow
 * type, the transitions run, their mean time and the mean time outside their steps (Temporal's
 * start, scheduling, history and result), and per CRI RPC the mean server-side time.
 */
import { printTable } from '../stats.js';

export type Counters = Map<string, number>;

/** `name{labels} value` lines of the text format, keyed by `name{labels}`. */
export function parsePrometheusText(text: string): Counters {
  const out: Counters = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

export async function scrapeMetrics(address: string): Promise<Counters> {
  const res = await fetch(`http://${address}/metrics`);
  if (!res.ok) throw new Error(`GET http://${address}/metrics: ${res.status}`);
  return parsePrometheusText(await res.text());
}

/** Adds what happened between two scrapes to `total` (runs of several berthd processes add up). */
export function addDelta(total: Counters, before: Counters, after: Counters): void {
  for (const [key, value] of after) total.set(key, (total.get(key) ?? 0) + value - (before.get(key) ?? 0));
}

/** One workflow type's transitions between two scrapes: how many, their mean, Temporal's part. */
export interface TransitionFloor {
  transitions: number;
  meanMs: number;
  temporalMs: number;
}

/**
 * Prints the floor over what happened between the two scrapes (`before` empty: `after` is already
 * a difference, from addDelta) and returns it per workflow type.
 */
export function printTemporalFloor(before: Counters, after: Counters): Map<string, TransitionFloor> {
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const label = (key: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(key)?.[1];
  const workflows = [...after.keys()]
    .filter((k) => k.startsWith('berth_transition_temporal_seconds_count{'))
    .map((k) => label(k, 'workflow')!)
    .filter((w) => delta(`berth_transition_temporal_seconds_count{workflow="${w}"}`) > 0);
  const floors = new Map<string, TransitionFloor>();
  const rows = workflows.map((w) => {
    const n = delta(`berth_transition_duration_seconds_count{workflow="${w}",outcome="completed"}`);
    const total =
      (delta(`berth_transition_duration_seconds_sum{workflow="${w}",outcome="completed"}`) / n) * 1000;
    const temporal =
      (delta(`berth_transition_temporal_seconds_sum{workflow="${w}"}`) /
        delta(`berth_transition_temporal_seconds_count{workflow="${w}"}`)) *
      1000;
    floors.set(w, { transitions: n, meanMs: total, temporalMs: temporal });
    return [w, n, total, temporal, `${((temporal / total) * 100).toFixed(0)}%`];
  });
  console.log(
    "Berth, the same runs: Temporal's floor per transition (berthd's metrics; time outside the steps):",
  );
  printTable(['workflow', 'transitions', 'mean ms', 'Temporal mean ms', 'Temporal share'], rows);
  const rpcs = [...after.keys()]
    .filter((k) => k.startsWith('berth_cri_request_duration_seconds_count{') && k.includes('code="OK"'))
    .map((k) => label(k, 'rpc')!)
    .filter((r) => delta(`berth_cri_request_duration_seconds_count{rpc="${r}",code="OK"}`) > 0)
    .filter((r) => !['Version', 'Status', 'ImageStatus', 'ImageFsInfo'].includes(r));
  console.log('Berth, the same runs: CRI calls answered (server side, without crictl):');
  printTable(
    ['rpc', 'calls', 'mean ms'],
    rpcs.map((r) => {
      const n = delta(`berth_cri_request_duration_seconds_count{rpc="${r}",code="OK"}`);
      return [r, n, (delta(`berth_cri_request_duration_seconds_sum{rpc="${r}",code="OK"}`) / n) * 1000];
    }),
  );
  return floors;
}
