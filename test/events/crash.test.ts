import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EventLog } from '../../src/events/log.js';
import { tempRoot } from './helpers/fixtures.js';
import { transpileTree } from './helpers/transpile.js';

const KILLS = 200;
const WRITERS = 8;

let root: { dir: string; cleanup: () => Promise<void> };
let childScript: string;

beforeAll(async () => {
  root = await tempRoot('berth-events-crash-');
  const build = join(root.dir, 'build');
  await transpileTree(build, ['src/events', 'src/common', 'test/events/helpers']);
  childScript = join(build, 'test/events/helpers/crash-child.js');
});
afterAll(async () => {
  await root.cleanup();
});

interface RunReport {
  started: Set<string>;
  acked: Map<string, number>;
}

/** Runs the child, SIGKILLs it `delayMs` after it is ready (or during startup when negative), and collects its reports. */
function runChild(dir: string, run: number, retry: string[], delayMs: number): Promise<RunReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(run), String(WRITERS), retry.join(',')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const report: RunReport = { started: new Set(), acked: new Map() };
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const kill = () => child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined = delayMs < 0 ? setTimeout(kill, -delayMs) : undefined;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const [tag, key, seq] = line.split(' ');
      if (tag === 'READY' && delayMs >= 0) timer = setTimeout(kill, delayMs);
      else if (tag === 'S') report.started.add(key!);
      else if (tag === 'A') report.acked.set(key!, Number(seq));
    });
    child.on('error', reject);
    // 'close' waits for stdout to drain, so every line the child wrote has been read.
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`crash child ended by itself (code ${code}): ${stderr}`));
      else resolve(report);
    });
  });
}

describe('crash safety', () => {
  it(`keeps the chain valid, gap-free, complete and duplicate-free across ${KILLS} SIGKILLs under load`, async () => {
    const dir = join(root.dir, 'events');
    const acked = new Map<string, number>();
    const seen = new Map<string, number>();
    let checkedSeq = 0;
    let retry: string[] = [];
    let killedWhileAppending = 0;
    for (let run = 0; run < KILLS; run++) {
      // Mostly kill under load after a random short delay; sometimes during startup or the retries.
      const delay = run % 10 === 9 ? -(20 + Math.floor(Math.random() * 200)) : Math.floor(Math.random() * 60);
      const report = await runChild(dir, run, retry, delay);
      for (const [k, s] of report.acked) {
        const before = acked.get(k);
        if (before !== undefined) expect(s, `retried key ${k} must return its first seq`).toBe(before);
        acked.set(k, s);
      }
      const inFlight = [...report.started].filter((k) => !report.acked.has(k));
      if (inFlight.length > 0) killedWhileAppending++;

      const log = await EventLog.open(dir);
      const v = await log.verify();
      expect(v, `after kill ${run + 1}`).toMatchObject({ ok: true, checked: log.lastSeq });
      for await (const e of log.read({ from: checkedSeq + 1 })) {
        seen.set(e.key!, (seen.get(e.key!) ?? 0) + 1);
        expect(seen.get(e.key!), `key ${e.key} stored twice`).toBe(1);
      }
      checkedSeq = log.lastSeq;
      for (const [k, s] of report.acked) expect((await log.getByKey(k))?.seq, `returned append ${k}`).toBe(s);
      await log.close();
      // Next run retries what was in flight plus a few that had already returned.
      retry = [...inFlight, ...[...report.acked.keys()].slice(0, 3)];
    }
    for (const [k, s] of acked) expect(seen.has(k), `returned append ${k} (seq ${s}) is present`).toBe(true);
    expect(killedWhileAppending).toBeGreaterThan(KILLS / 2);
    expect(checkedSeq).toBeGreaterThan(KILLS);
  }, 900_000);
});
