/**
 * scripts/node-conformance: the Kubernetes v1.36 [NodeConformance] specs on a one-node cluster,
 * on Berth and on the reference containerd in turn; prints the counts, every failure with its
 * message, and the specs containerd passes that Berth fails.
 */
import type { RuntimeName } from '../kubelet/runtimes.js';
import { readdirSync, readFileSync } from 'node:fs';
import { Flags } from './cli-flags.js';
import { CONFORMANCE_SKIPS, runNodeConformance, type ConformanceResult } from './conformance.js';

const USAGE = `usage: scripts/node-conformance [flags]
  --runtimes LIST     berth,containerd (default), or one of them
  --focus REGEX       only the specs whose names match
  --timeout MINUTES   per runtime (default 180)
  --procs N           parallel e2e.test processes (default 4: most specs wait on the node)
  --log-dir DIR       keep e2e.test's output and every component's log there
  --json              the results as JSON
Exit codes: 0 Berth fails no spec the reference passes, 1 it does (or a run failed), 2 bad flags.`;

const flags = new Flags('scripts/node-conformance', USAGE, {
  runtimes: { type: 'string', default: 'berth,containerd' },
  focus: { type: 'string' },
  timeout: { type: 'string', default: '180' },
  procs: { type: 'string', default: '4' },
  'log-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
});
const usageError = (message: string): never => flags.fail(message);

async function main(): Promise<number> {
  const values = flags.parse(process.argv.slice(2));
  const runtimes = values.runtimes.split(',');
  for (const r of runtimes)
    if (r !== 'berth' && r !== 'containerd') usageError(`--runtimes: "${r}" is neither berth nor containerd`);
  const minutes = Number(values.timeout);
  if (!(minutes > 0)) usageError(`--timeout: not a number of minutes: "${values.timeout}"`);
  const procs = Number(values.procs);
  if (!Number.isInteger(procs) || procs < 1)
    usageError(`--procs: not a number of processes: "${values.procs}"`);
  // Ctrl-C ends the specs; the runner then stops the cluster and removes what it made.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      process.stderr.write(`node-conformance: ${signal}: stopping the specs and the cluster…\n`);
      stopSpecs();
    });
  const results: ConformanceResult[] = [];
  for (const runtime of runtimes as RuntimeName[]) {
    process.stderr.write(`node-conformance: ${runtime}…\n`);
    results.push(
      await runNodeConformance({
        runtime,
        timeoutMs: minutes * 60_000,
        procs,
        ...(values.focus ? { focus: values.focus } : {}),
        ...(values['log-dir'] ? { logDir: values['log-dir'] } : {}),
      }),
    );
  }
  const berth = results.find((r) => r.runtime === 'berth');
  const reference = results.find((r) => r.runtime === 'containerd');
  const regressions = berth && reference ? reference.passed.filter((s) => berth.failed.has(s)) : [];
  if (values.json) {
    process.stdout.write(
      JSON.stringify(
        {
          results: results.map((r) => ({ ...r, failed: Object.fromEntries(r.failed) })),
          skippedOffline: CONFORMANCE_SKIPS,
          berthFailsReferencePasses: regressions,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    process.stdout.write('runtime     passed  failed  skipped  minutes\n');
    for (const r of results)
      process.stdout.write(
        `${r.runtime.padEnd(10)}  ${String(r.passed.length).padStart(6)}  ${String(r.failed.size).padStart(6)}  ${String(r.skipped.length).padStart(7)}  ${(r.durationMs / 60_000).toFixed(1).padStart(7)}\n`,
      );
    for (const r of results)
      for (const [name, why] of r.failed) process.stdout.write(`\n${r.runtime} FAILED ${name}\n  ${why}\n`);
    if (berth && reference)
      process.stdout.write(
        `\nBerth fails ${regressions.length} spec(s) containerd passes${regressions.map((s) => `\n  ${s}`).join('')}\n`,
      );
  }
  return regressions.length > 0 || results.some((r) => r.passed.length === 0) ? 1 : 0;
}

/** Ends the e2e.test and ginkgo processes this one started (the cluster stays to be stopped). */
function stopSpecs(): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = /\((.*)\)/.exec(stat)?.[1];
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && (comm === 'e2e.test' || comm === 'ginkgo'))
        process.kill(Number(pid), 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`scripts/node-conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
