/**
 * Reads one container's CRI log as kubelet left it after rotation: `<attempt>.log.<stamp>[.gz]`
 * files oldest first, then `<attempt>.log`, each line `<time> <stream> <P|F> <text>`, partial (P)
 * lines joined to the full (F) line that ends them.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface RotatedLog {
  /** File names read, in the order read. */
  files: string[];
  /** Whole lines (P parts joined), in order. */
  lines: { time: string; stream: string; text: string }[];
}

/** The log folder of `container` in the pod named `podName` (in full, as kubelet reports it). */
export async function containerLogDir(podLogs: string, podName: string, container: string): Promise<string> {
  const podDir = (await readdir(podLogs)).find((d) => d.startsWith(`default_${podName}_`));
  if (!podDir) throw new Error(`no log folder for pod ${podName} under ${podLogs}`);
  return path.join(podLogs, podDir, container);
}

/**
 * Reads every file of `attempt`; retries when kubelet compresses or deletes a file between the
 * listing and the read. The last line of the live file may still be being written: it is dropped
 * unless it ends with a newline.
 */
export async function readRotatedLog(dir: string, attempt: number): Promise<RotatedLog> {
  for (let tries = 0; ; tries++) {
    try {
      return await readOnce(dir, attempt);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || tries >= 10) throw err;
    }
  }
}

async function readOnce(dir: string, attempt: number): Promise<RotatedLog> {
  const live = `${attempt}.log`;
  const names = await readdir(dir);
  // kubelet's stamp (YYYYMMDD-hhmmss) sorts as text; .gz only marks a compressed one.
  const rotated = names
    .filter((n) => n.startsWith(`${live}.`) && !n.endsWith('.tmp'))
    .sort((a, b) => a.replace(/\.gz$/, '').localeCompare(b.replace(/\.gz$/, '')));
  const files = [...rotated, ...(names.includes(live) ? [live] : [])];
  const lines: RotatedLog['lines'] = [];
  let partial = '';
  for (const name of files) {
    const raw = await readFile(path.join(dir, name));
    const text = (name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    const records = text.split('\n');
    const last = records.pop();
    if (name !== live && last !== '')
      throw new Error(`rotated log ${name} does not end with a newline: ${JSON.stringify(last)}`);
    for (const record of records) {
      const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/.exec(record);
      if (!m) throw new Error(`${name}: not a CRI log line: ${JSON.stringify(record)}`);
      partial += m[4]!;
      if (m[3] === 'F') {
        lines.push({ time: m[1]!, stream: m[2]!, text: partial });
        partial = '';
      }
    }
  }
  return { files, lines };
}
