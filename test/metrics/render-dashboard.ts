/**
 * Renders docs/grafana/berth-node.json from a real run into docs/grafana/berth-node.png: a berthd
 * with its metrics endpoint, Debian's Prometheus scraping it, and crictl churning pods for a few
 * minutes; then each panel's queries are read back over the run (Prometheus' range API) and drawn
 * on the dashboard's grid, and headless Chromium takes the picture. Grafana itself is not packaged
 * for Debian, so the page is drawn here from the same JSON and the same queries.
 *
 * Run: ./scripts/setup --tests && node dist/test/metrics/render-dashboard.js [--minutes N] [--out FILE]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { readFile, writeFile } from 'node:fs/promises';
import { pushBusyboxImage, startCriEnv, type CriEnv } from '../cri/berthd/env.js';
import { freePort } from '../helpers/registry.js';
import { startPrometheus, type RangeSeries } from '../helpers/prometheus.js';
import { REPO } from '../helpers/berthd.js';

interface Panel {
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  fieldConfig: { defaults: { unit?: string } };
  targets: { expr: string; legendFormat?: string }[];
}

const PALETTE = [
  '#73bf69',
  '#f2cc0c',
  '#8ab8ff',
  '#ff780a',
  '#f2495c',
  '#5794f2',
  '#b877d9',
  '#fade2a',
  '#96d98d',
];

async function churn(env: CriEnv, until: number): Promise<number> {
  const ok = async (args: string[]): Promise<string> => {
    const r = await env.crictl(args);
    if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const file = async (name: string, body: unknown): Promise<string> => {
    const f = path.join(env.work, `${name}.json`);
    await writeFile(f, JSON.stringify(body));
    return f;
  };
  await ok(['pull', env.image]);
  // Two long-lived pods that work, so the usage panels have something to show.
  for (const name of ['web', 'batch']) {
    const pod = await file(`pod-${name}`, {
      metadata: { name, namespace: 'shop', uid: `uid-${name}`, attempt: 0 },
      linux: { security_context: { namespace_options: { network: 2 } } },
    });
    const c = await file(`c-${name}`, {
      metadata: { name: 'main' },
      image: { image: env.image },
      command: [
        'sh',
        '-c',
        name === 'web'
          ? 'while true; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.2; done'
          : 'while true; do dd if=/dev/zero of=/tmp/f bs=1M count=8 2>/dev/null; sleep 1; done',
      ],
    });
    const id = await ok(['runp', pod]);
    await ok(['start', await ok(['create', id, c, pod])]);
  }
  // Each round pulls this image (other content than the pods' image, so removable while they run)
  // and removes it after, so the pull panels have a pull per round.
  const churnImage = await pushBusyboxImage(env.reg, env.work, 'cri/churn', ['ls', 'cat']);
  let rounds = 0;
  while (Date.now() < until) {
    await ok(['pull', churnImage]);
    const name = `churn-${rounds}`;
    const pod = await file('pod-churn', {
      metadata: { name, namespace: 'ci', uid: `uid-${name}`, attempt: 0 },
      linux: { security_context: { namespace_options: { network: 2 } } },
    });
    const c = await file('c-churn', {
      metadata: { name: 'job' },
      image: { image: env.image },
      command: ['sleep', '60'],
    });
    const id = await ok(['runp', pod]);
    const cid = await ok(['create', id, c, pod]);
    await ok(['start', cid]);
    await ok(['exec', '-s', cid, 'true']);
    await env.crictl(['inspect', `missing-${rounds}`]); // a NOT_FOUND for the errors panel
    await ok(['stopp', id]);
    await ok(['rmp', id]);
    await ok(['rmi', churnImage]);
    rounds++;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return rounds;
}

function legend(format: string | undefined, metric: Record<string, string>): string {
  if (!format) return JSON.stringify(metric);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
}

function formatValue(v: number, unit: string | undefined): string {
  const scaled = (base: number, units: string[]) => {
    let i = 0;
    while (Math.abs(v) >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    return `${+v.toFixed(v < 10 && v !== 0 ? 2 : 0)} ${units[i]}`;
  };
  switch (unit) {
    case 'bytes':
      return scaled(1024, ['B', 'KiB', 'MiB', 'GiB']);
    case 'Bps':
      return scaled(1024, ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']);
    case 's':
      return v < 1 ? `${+(v * 1000).toFixed(v < 0.01 ? 2 : 0)} ms` : `${+v.toFixed(2)} s`;
    case 'percentunit':
      return `${+(v * 100).toFixed(0)}%`;
    case 'reqps':
    case 'ops':
      return `${+v.toFixed(2)}/s`;
    default:
      return `${+v.toFixed(2)}`;
  }
}

/** One panel as SVG: lines over the run, y axis with four ticks, time along x. */
function panelSvg(
  series: { name: string; points: [number, number][] }[],
  unit: string | undefined,
  range: { start: number; end: number },
  width: number,
  height: number,
): string {
  const left = 64;
  const bottom = 20;
  const plotW = width - left - 8;
  const plotH = height - bottom - 8;
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v));
  const max = Math.max(1e-9, ...values) * 1.1;
  const x = (t: number) => left + ((t - range.start) / (range.end - range.start)) * plotW;
  const y = (v: number) => 8 + plotH - (v / max) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = max * f;
      return `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#2c3235"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${formatValue(v, unit)}</text>`;
    })
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const t = range.start + f * (range.end - range.start);
      const label = new Date(t * 1000).toISOString().slice(11, 16);
      return `<text x="${x(t)}" y="${height - 4}" text-anchor="middle">${label}</text>`;
    })
    .join('');
  const lines = series
    .map((s, i) => {
      const color = PALETTE[i % PALETTE.length]!;
      const d = s.points
        .filter((p) => Number.isFinite(p[1]))
        .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
        .join('');
      return d ? `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>` : '';
    })
    .join('');
  return `<svg width="${width}" height="${height}">${grid}${ticks}${lines}</svg>`;
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '4' }, out: { type: 'string' } },
  });
  const out = values.out ?? path.join(REPO, 'docs/grafana/berth-node.png');
  const dashboard = JSON.parse(await readFile(path.join(REPO, 'docs/grafana/berth-node.json'), 'utf8')) as {
    title: string;
    panels: Panel[];
  };
  const metricsPort = await freePort();
  const env = await startCriEnv(['--metrics-address', `127.0.0.1:${metricsPort}`]);
  const prometheus = await startPrometheus(path.join(env.work, 'prometheus'), [`127.0.0.1:${metricsPort}`]);
  try {
    const start = Date.now() / 1000;
    const rounds = await churn(env, Date.now() + Number(values.minutes) * 60_000);
    await new Promise((r) => setTimeout(r, 5_000));
    const range = { start, end: Date.now() / 1000, step: 5 };
    const colWidth = 1600 / 24;
    const rowHeight = 34;
    const panels: string[] = [];
    for (const p of dashboard.panels) {
      const series: { name: string; points: [number, number][] }[] = [];
      for (const t of p.targets) {
        const result: RangeSeries[] = await prometheus.queryRange(t.expr, range);
        for (const r of result)
          series.push({
            name: legend(t.legendFormat, r.metric),
            points: r.values.map(([ts, v]) => [ts, Number(v)] as [number, number]),
          });
      }
      series.sort((a, b) => a.name.localeCompare(b.name));
      const w = p.gridPos.w * colWidth - 8;
      const h = p.gridPos.h * rowHeight - 8;
      const shown = series.slice(0, 8);
      panels.push(
        `<div class="panel" style="left:${p.gridPos.x * colWidth}px;top:${p.gridPos.y * rowHeight + 48}px;width:${w}px;height:${h}px">` +
          `<div class="title">${escape(p.title)}</div>` +
          panelSvg(shown, p.fieldConfig.defaults.unit, range, w - 16, h - 70) +
          `<div class="legend">${shown.map((s, i) => `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>${escape(s.name)}</span>`).join('')}${series.length > shown.length ? `<span>+${series.length - shown.length} more</span>` : ''}</div></div>`,
      );
    }
    const rows = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
    const html = `<!doctype html><html><head><style>
      body{margin:0;background:#111217;color:#ccccdc;font:12px Inter,Helvetica,Arial,sans-serif}
      .head{height:40px;padding:10px 16px;font-size:16px;box-sizing:border-box}
      .head small{color:#8e8e8e;margin-left:12px}
      .panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:8px;box-sizing:border-box;overflow:hidden}
      .title{font-weight:500;margin-bottom:6px}
      svg text{fill:#8e8e8e;font-size:10px}
      .legend span{margin-right:10px;white-space:nowrap;display:inline-block}
      .legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
    </style></head><body><div class="head">${escape(dashboard.title)}<small>berthd ${escape(env.berthd.nodeId)} · Prometheus 2.42 · ${rounds} pods churned through crictl over ${values.minutes} min · ${new Date(range.start * 1000).toISOString().slice(0, 16)}Z</small></div>${panels.join('')}</body></html>`;
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox'],
      headless: true,
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: rows * rowHeight + 56 } });
      await page.setContent(html);
      await page.screenshot({ path: out, fullPage: true });
    } finally {
      await browser.close();
    }
    process.stdout.write(`wrote ${out}: ${dashboard.panels.length} panels, ${rounds} pods churned\n`);
  } finally {
    await prometheus.stop();
    for (const line of (await env.crictl(['pods', '-q'])).stdout.split('\n').filter(Boolean)) {
      await env.crictl(['stopp', line]);
      await env.crictl(['rmp', line]);
    }
    await env.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`render-dashboard: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
