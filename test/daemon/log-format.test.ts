/**
 * berthd's log as a person and as a program read it: one readable line per record with
 * `--log-format pretty` (the default on a terminal), pino's JSON lines with `json` (the default
 * otherwise: the test's pipe is not a terminal).
 */
import { describe, expect, it } from 'vitest';
import { startBerthd } from '../helpers/berthd.js';

async function readyLog(args: string[]): Promise<string[]> {
  const d = await startBerthd({ args });
  try {
    return d
      .output()
      .split('\n')
      .filter((l) => l.includes('berthd ready'));
  } finally {
    await d.stop();
    await d.cleanup();
  }
}

describe("berthd's log format", () => {
  it('writes JSON lines when its stderr is not a terminal', async () => {
    const [line] = await readyLog([]);
    expect(line).toBeDefined();
    const record = JSON.parse(line!) as { level: number; msg: string; name: string };
    expect(record).toMatchObject({ level: 30, msg: 'berthd ready', name: 'berthd' });
  }, 120_000);

  it('writes one readable line per record with --log-format pretty', async () => {
    const [line] = await readyLog(['--log-format', 'pretty']);
    expect(line).toBeDefined();
    // e.g. "[02:01:13.456] INFO (berthd): berthd ready" followed by its fields on indented lines.
    const plain = line!.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), ''); // colours
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(berthd\): berthd ready$/);
    expect(() => JSON.parse(line!)).toThrow();
  }, 120_000);
});
