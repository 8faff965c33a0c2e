/**
 * `berth pull REF`: pulls through berthd and shows live progress. On a TTY: one line per layer
 * (bytes done of total, status) and a total with rate and ETA, redrawn in place; otherwise plain
 * lines, one per layer status change. `--json` prints the progress messages and the result as
 * NDJSON, as the API sends them.
 */
import type { PullStreamItem } from '../../api/routes/images.js';
import type { ImageRecord } from '../../events/projections/state.js';
import type { PullProgress } from '../../images/progress.js';
import { InvalidArgumentError } from '../../common/errors.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function eta(p: PullProgress): string {
  if (p.rate <= 0 || p.bytesDone >= p.bytesTotal) return '';
  const s = Math.ceil((p.bytesTotal - p.bytesDone) / p.rate);
  return ` ETA ${s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`}`;
}

function shortDigest(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

function render(p: PullProgress): string[] {
  const lines = p.layers.map(
    (l) =>
      `${shortDigest(l.digest)}  ${l.status.padEnd(9)}  ${formatBytes(l.done)} / ${formatBytes(l.total)}`,
  );
  lines.push(
    `${p.phase.padEnd(8)} ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}  ${formatBytes(p.rate)}/s${eta(p)}`,
  );
  return lines;
}

export const pullCommand: Command = {
  name: 'pull',
  summary: 'Pull an image from a registry (live progress on a TTY)',
  usage: 'berth pull [--namespace NS] [--platform OS/ARCH] [--user USER --password PASS] REF [--json]',
  async run(argv, ctx) {
    const { values, positionals } = parseCommandArgs(
      'pull',
      argv,
      {
        namespace: { type: 'string', short: 'n' },
        platform: { type: 'string' },
        user: { type: 'string', short: 'u' },
        password: { type: 'string', short: 'p' },
      },
      true,
    );
    if (positionals.length !== 1)
      throw new InvalidArgumentError('berth pull: give exactly one image reference');
    const body = {
      ref: positionals[0],
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(values.platform ? { platform: values.platform } : {}),
      ...(values.user !== undefined
        ? { auth: { username: values.user, password: values.password ?? '' } }
        : {}),
    };
    const tty = !values.json && process.stdout.isTTY === true;
    let drawn = 0;
    const statuses = new Map<string, string>();
    let image: ImageRecord | undefined;
    for await (const item of ctx.client.postStream<PullStreamItem>('/v1/images/pull', body)) {
      if (values.json) {
        ctx.out(JSON.stringify(item));
        if ('type' in item && item.type === 'result') image = item.image;
        continue;
      }
      if ('type' in item && item.type === 'progress') {
        if (tty) {
          const lines = render(item);
          // Move up over what was drawn last time and redraw it in place.
          if (drawn) process.stdout.write(`\x1b[${drawn}A`);
          process.stdout.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
          drawn = lines.length;
        } else {
          for (const l of item.layers) {
            if (statuses.get(l.digest) === l.status) continue;
            statuses.set(l.digest, l.status);
            ctx.out(`${shortDigest(l.digest)}: ${l.status} (${formatBytes(l.total)})`);
          }
        }
      } else if ('type' in item && item.type === 'result') {
        image = item.image;
      }
    }
    if (!image) return 1;
    if (!values.json) ctx.out(`${image.name}: pulled ${image.target.digest}`);
    return 0;
  },
};
