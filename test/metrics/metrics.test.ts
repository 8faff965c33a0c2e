/** BerthMetrics' own arithmetic and the cgroup I/O parsers, without a daemon. */
import { describe, expect, it } from 'vitest';
import { BerthMetrics, type MetricsSources } from '../../src/metrics/metrics.js';
import { parseBlkioV1, parseIoStatV2 } from '../../src/runtime/cgroups.js';

const idle: MetricsSources = {
  eventSeq: () => 42,
  relay: () => undefined,
  containerStates: () => [
    { namespace: 'k8s.io', state: 'running' },
    { namespace: 'k8s.io', state: 'running' },
    { namespace: 'default', state: 'stopped' },
  ],
  podStates: () => [],
  containerUsage: async () => [],
};

/** The exposition lines of one metric family. */
async function lines(m: BerthMetrics, name: string): Promise<string[]> {
  const { body } = await m.scrape();
  return body.split('\n').filter((l) => l.startsWith(name));
}

describe('BerthMetrics', () => {
  it("computes Temporal's share as the time outside the steps", async () => {
    const m = new BerthMetrics(idle);
    m.transitionFinished('startContainer', { ok: true }, 0.2, 0.15);
    expect(await lines(m, 'berth_transition_temporal_seconds_sum')).toEqual([
      expect.stringMatching(/^berth_transition_temporal_seconds_sum\{workflow="startContainer"\} 0\.05\d*$/),
    ]);
    expect(await lines(m, 'berth_transition_temporal_ratio_sum')).toEqual([
      expect.stringMatching(/^berth_transition_temporal_ratio_sum\{workflow="startContainer"\} 0\.25\d*$/),
    ]);
  });

  it('counts a failed transition by its code, with no share', async () => {
    const m = new BerthMetrics(idle);
    m.transitionFinished('createContainer', { ok: false, code: 'not_found' }, 0.1, 0.05);
    expect(await lines(m, 'berth_transitions_failed_total')).toEqual([
      'berth_transitions_failed_total{workflow="createContainer",code="not_found"} 1',
    ]);
    expect(await lines(m, 'berth_transition_temporal_ratio_count')).toEqual([]);
  });

  it('reads the state gauges at scrape time, counted by namespace and state', async () => {
    const m = new BerthMetrics(idle);
    expect(await lines(m, 'berth_containers{')).toEqual([
      'berth_containers{namespace="k8s.io",state="running"} 2',
      'berth_containers{namespace="default",state="stopped"} 1',
    ]);
    expect(await lines(m, 'berth_event_log_seq ')).toEqual(['berth_event_log_seq 42']);
    // No relay: the lag is absent, not 0, and NATS is reported down.
    expect(await lines(m, 'berth_event_relay_lag_events')).toEqual([]);
    expect(await lines(m, 'berth_nats_connected ')).toEqual(['berth_nats_connected 0']);
  });

  it('sets container counters to the kernel figure on each scrape rather than adding', async () => {
    let cpu = 1e9;
    const m = new BerthMetrics({
      ...idle,
      containerUsage: async () => [
        {
          labels: { namespace: 'ns', pod: 'p', container: 'c', id: '/x', name: 'cid', image: 'img' },
          cpuUsageNanos: cpu,
          memoryUsageBytes: 10,
          memoryWorkingSetBytes: 5,
          threads: 1,
          oomKills: 0,
        },
      ],
    });
    await m.scrape();
    cpu = 3e9;
    expect(await lines(m, 'container_cpu_usage_seconds_total{')).toEqual([
      'container_cpu_usage_seconds_total{namespace="ns",pod="p",container="c",id="/x",name="cid",image="img"} 3',
    ]);
    // One cgroup read per scrape, shared by every container metric.
    let reads = 0;
    const counted = new BerthMetrics({ ...idle, containerUsage: async () => (reads++, []) });
    await counted.scrape();
    await counted.scrape();
    expect(reads).toBe(2);
    // No I/O accounted: no series rather than a made-up 0.
    expect(await lines(m, 'container_fs_reads_bytes_total{')).toEqual([]);
  });
});

describe('cgroup block I/O', () => {
  it('sums v2 io.stat over devices', () => {
    expect(
      parseIoStatV2(
        '8:0 rbytes=100 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n253:1 rbytes=5 wbytes=7 rios=1 wios=1\n',
      ),
    ).toEqual({ read: 105, write: 27 });
    expect(parseIoStatV2('')).toBeUndefined();
  });

  it('sums v1 blkio.throttle.io_service_bytes over devices, not counting the Total lines twice', () => {
    const text = '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n';
    expect(parseBlkioV1(text)).toEqual({ read: 4096, write: 8192 });
    expect(parseBlkioV1('Total 0\n')).toEqual({ read: 0, write: 0 });
  });
});
