/**
 * Debian's Prometheus (2.42) on loopback, scraping the given targets every second, with its data
 * under `dir`; and the two HTTP API reads the tests and the dashboard renderer make.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './registry.js';

export const PROMETHEUS = '/usr/bin/prometheus';

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface RunningPrometheus {
  url: string;
  query(promql: string): Promise<Sample[]>;
  queryRange(promql: string, range: { start: number; end: number; step: number }): Promise<RangeSeries[]>;
  /** Its last lines of log, for a failure's message. */
  log(): string;
  stop(): Promise<void>;
}

async function api<T>(url: string, what: string): Promise<T> {
  const body = (await (await fetch(url)).json()) as { status: string; data?: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${what}: ${body.error}`);
  return body.data!;
}

export async function startPrometheus(dir: string, targets: string[]): Promise<RunningPrometheus> {
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: berthd',
      `    static_configs: [{ targets: [${targets.map((t) => `'${t}'`).join(', ')}] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const exited = new Promise((r) => proc.once('exit', r));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 30_000;
  while (
    !(await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited:\n${log}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    query: async (promql) =>
      (await api<{ result: Sample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, promql))
        .result,
    queryRange: async (promql, { start, end, step }) =>
      (
        await api<{ result: RangeSeries[] }>(
          `${url}/api/v1/query_range?query=${encodeURIComponent(promql)}&start=${start}&end=${end}&step=${step}`,
          promql,
        )
      ).result,
    log: () => log,
    stop,
  };
}
