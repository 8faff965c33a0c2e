/**
 * berthd's metrics endpoint scraped by a real Prometheus (Debian's 2.42) on loopback: after a
 * pod with one container runs through crictl, the metrics a dashboard reads come back through
 * Prometheus' HTTP API with the labels cAdvisor uses; CRI calls, transitions with Temporal's
 * share, the pull and the event log are counted. Also: the endpoint is off by default, serves
 * only /metrics, and a taken port fails berthd's start naming the flag.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthdExitedError, startBerthd } from '../helpers/berthd.js';
import { freePort } from '../helpers/registry.js';
import { startCriEnv, type CriEnv } from '../cri/berthd/env.js';
import { startPrometheus, type RunningPrometheus, type Sample } from '../helpers/prometheus.js';

let env: CriEnv;
let metricsPort: number;
let prometheus: RunningPrometheus | undefined;
let podId = '';
let containerId = '';

async function ok(args: string[]): Promise<string> {
  const r = await env.crictl(args);
  expect(r.code, `crictl ${args.join(' ')} failed:\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

async function query(promql: string): Promise<Sample[]> {
  return prometheus!.query(promql);
}

/** Polls Prometheus until `promql` has a result (scrapes run every second). */
async function eventually(promql: string, timeoutMs = 30_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await query(promql);
    if (result.length > 0) return result;
    if (Date.now() > deadline) {
      const targets = await fetch(`${prometheus!.url}/api/v1/targets`).then((r) => r.text());
      throw new Error(
        `no result for ${promql} after ${timeoutMs} ms; targets: ${targets}\n${prometheus!.log()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  metricsPort = await freePort();
  env = await startCriEnv(['--metrics-address', `127.0.0.1:${metricsPort}`]);
  prometheus = await startPrometheus(path.join(env.work, 'prometheus'), [`127.0.0.1:${metricsPort}`]);

  await ok(['pull', env.image]);
  const podFile = path.join(env.work, 'pod.json');
  await writeFile(
    podFile,
    JSON.stringify({
      metadata: { name: 'metrics-pod', namespace: 'shop', uid: 'uid-metrics', attempt: 0 },
      linux: { security_context: { namespace_options: { network: 2 } } },
    }),
  );
  const containerFile = path.join(env.work, 'container.json');
  // Writes a file with O_DIRECT-free dd so the container does some CPU and memory work, then sleeps.
  await writeFile(
    containerFile,
    JSON.stringify({
      metadata: { name: 'worker' },
      image: { image: env.image },
      command: ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 3600'],
    }),
  );
  podId = await ok(['runp', podFile]);
  containerId = await ok(['create', podId, containerFile, podFile]);
  await ok(['start', containerId]);
}, 240_000);

afterAll(async () => {
  await prometheus?.stop();
  if (!env) return;
  if (podId) {
    await env.crictl(['stopp', podId]);
    await env.crictl(['rmp', podId]);
  }
  await env.cleanup();
}, 120_000);

describe('berthd metrics through a real Prometheus', () => {
  it('serves per-container usage with the labels cAdvisor uses', async () => {
    const [memory] = await eventually(`container_memory_working_set_bytes{pod="metrics-pod"}`);
    expect(memory!.metric).toMatchObject({
      job: 'berthd',
      namespace: 'shop',
      pod: 'metrics-pod',
      container: 'worker',
      name: containerId,
      image: env.image,
    });
    expect(memory!.metric.id).toMatch(/^\//);
    expect(Number(memory!.value[1])).toBeGreaterThan(0);
    const [cpu] = await eventually(`container_cpu_usage_seconds_total{container="worker"}`);
    expect(Number(cpu!.value[1])).toBeGreaterThan(0);
    const [threads] = await eventually(`container_threads{container="worker"}`);
    expect(Number(threads!.value[1])).toBeGreaterThanOrEqual(1);
    // This host accounts block I/O (cgroup v1 blkio): the series exist, even if at 0.
    await eventually(`container_fs_writes_bytes_total{container="worker"}`);
  });

  it('counts CRI calls by RPC and status, and times them', async () => {
    const [runp] = await eventually(`berth_cri_requests_total{rpc="RunPodSandbox",code="OK"}`);
    expect(Number(runp!.value[1])).toBe(1);
    const missing = await env.crictl(['inspect', 'no-such-container']);
    expect(missing.code).not.toBe(0);
    const [notFound] = await eventually(`berth_cri_requests_total{rpc="ContainerStatus",code="NOT_FOUND"}`);
    expect(Number(notFound!.value[1])).toBeGreaterThanOrEqual(1);
    const [p50] = await eventually(
      `histogram_quantile(0.5, sum by (le) (berth_cri_request_duration_seconds_bucket{rpc="StartContainer"}))`,
    );
    expect(Number(p50!.value[1])).toBeGreaterThan(0);
  });

  it("counts transitions with their duration and Temporal's share", async () => {
    for (const workflow of ['pullImage', 'createSandbox', 'createContainer', 'startContainer']) {
      const [started] = await eventually(`berth_transitions_started_total{workflow="${workflow}"}`);
      expect(Number(started!.value[1]), workflow).toBeGreaterThanOrEqual(1);
      const [completed] = await eventually(`berth_transitions_completed_total{workflow="${workflow}"}`);
      expect(Number(completed!.value[1]), workflow).toBeGreaterThanOrEqual(1);
      const [share] = await eventually(
        `berth_transition_temporal_ratio_sum{workflow="${workflow}"} / berth_transition_temporal_ratio_count{workflow="${workflow}"}`,
      );
      const ratio = Number(share!.value[1]);
      expect(ratio, workflow).toBeGreaterThan(0);
      expect(ratio, workflow).toBeLessThanOrEqual(1);
    }
    const steps = await eventually(`berth_transition_step_duration_seconds_count{outcome="ok"}`);
    expect(steps.map((s) => s.metric.step)).toContain('pullResolve');
  });

  it('counts the pull, the event log and the containers and pods by state', async () => {
    const [bytes] = await eventually('berth_image_pull_bytes_total');
    expect(Number(bytes!.value[1])).toBeGreaterThan(100_000); // busybox-static
    const [layers] = await eventually('berth_image_layers_unpacked_total');
    expect(Number(layers!.value[1])).toBeGreaterThanOrEqual(1);
    const [seq] = await eventually('berth_event_log_seq');
    expect(Number(seq!.value[1])).toBeGreaterThan(5);
    const [appends] = await eventually('berth_event_append_duration_seconds_count');
    expect(Number(appends!.value[1])).toBeGreaterThan(5);
    const [nats] = await eventually('berth_nats_connected');
    expect(nats!.value[1]).toBe('1');
    await eventually('berth_event_relay_lag_events');
    const [running] = await eventually(`berth_containers{namespace="k8s.io",state="running"}`);
    expect(Number(running!.value[1])).toBe(1);
    const [ready] = await eventually(`berth_pods{namespace="k8s.io",state="ready"}`);
    expect(Number(ready!.value[1])).toBe(1);
    const [api] = await eventually('berth_api_requests_total{route="/v1/health"}');
    expect(Number(api!.value[1])).toBeGreaterThanOrEqual(1);
  });

  it('answers every query of the shipped Grafana dashboard with data from this run', async () => {
    const dashboard = JSON.parse(
      await readFile(path.join(process.cwd(), 'docs/grafana/berth-node.json'), 'utf8'),
    ) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        // A refused query throws, naming it; a rate needs two scrapes of a series, hence the wait.
        const result = await eventually(expr, 15_000).catch((err: Error) => {
          throw new Error(`panel "${panel.title}": ${err.message.split('\n')[0]}`);
        });
        expect(result.length).toBeGreaterThan(0);
      }
    }
  });

  it('serves only /metrics, and berth info names the endpoint', async () => {
    const other = await fetch(`http://127.0.0.1:${metricsPort}/`);
    expect(other.status).toBe(404);
    const info = await env.berthd.client.get<{ metrics?: string }>('/v1/info');
    expect(info.metrics).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
  });
});

describe('the metrics endpoint is opt-in', () => {
  it('is off unless --metrics-address is set', async () => {
    const d = await startBerthd();
    try {
      const info = await d.client.get<{ metrics?: string }>('/v1/info');
      expect(info.metrics).toBeUndefined();
      expect(d.output()).not.toMatch(/metrics endpoint listening/);
    } finally {
      await d.stop();
      await d.cleanup();
    }
  }, 120_000);

  it('a taken port fails the start, naming --metrics-address, and changes nothing', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const err = await startBerthd({ args: ['--metrics-address', `127.0.0.1:${port}`] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BerthdExitedError);
      const exited = err as BerthdExitedError;
      expect(exited.code).toBe(1);
      expect(exited.output).toMatch(
        new RegExp(`--metrics-address 127\\.0\\.0\\.1:${port}: cannot listen: .*EADDRINUSE`),
      );
      await startBerthd({ root: exited.root, state: exited.state }).then(async (d) => {
        await d.stop();
        await d.cleanup();
      });
    } finally {
      holder.close();
    }
  }, 180_000);
});
