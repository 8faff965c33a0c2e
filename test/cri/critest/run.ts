/**
 * Runs critest v1.36 against one CRI endpoint and reads its Ginkgo JSON report into
 * passed / failed / skipped spec names. critest asks for its images by their upstream names and
 * tags (no --registry-prefix, no images file): the runtime under test must mirror those registries.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFileCapture } from '../../../src/common/exec.js';
import { escapeRegex, readGinkgoReport } from '../../helpers/ginkgo-report.js';

export const CRITEST = path.join(process.cwd(), '.tools/bin/critest');

/**
 * Specs that cannot run offline, skipped with --ginkgo.skip for both runtimes (name → reason).
 * Everything else runs, including specs Berth is known to fail.
 */
export const OFFLINE_SKIPS: Record<string, string> = {
  'public image with digest should be pulled and removed':
    'pinned to an upstream manifest digest (sha256:9700f9a2…) that a locally built image cannot have',
};

export interface CritestResult {
  runtime: string;
  passed: string[];
  failed: string[];
  skipped: string[];
  /** critest's exit code (non-zero when any spec failed). */
  exitCode: number;
  durationMs: number;
}

export async function runCritest(opts: {
  runtime: string;
  endpoint: string;
  work: string;
  focus?: string;
  timeoutMs: number;
  /** Where critest's output goes (`critest-<runtime>.log`); default `work`. */
  logDir?: string;
}): Promise<CritestResult> {
  const report = path.join(opts.work, `critest-${opts.runtime}.json`);
  const started = Date.now();
  const r = await execFileCapture(
    CRITEST,
    [
      `--runtime-endpoint=${opts.endpoint}`,
      `--image-endpoint=${opts.endpoint}`,
      `--ginkgo.skip=${Object.keys(OFFLINE_SKIPS).map(escapeRegex).join('|')}`,
      ...(opts.focus ? [`--ginkgo.focus=${opts.focus}`] : []),
      `--ginkgo.json-report=${report}`,
      '--ginkgo.no-color',
      `--ginkgo.timeout=${Math.floor(opts.timeoutMs / 1000)}s`,
    ],
    { timeoutMs: opts.timeoutMs + 60_000, cwd: opts.work },
  );
  await writeFile(path.join(opts.logDir ?? opts.work, `critest-${opts.runtime}.log`), r.stdout + r.stderr);
  const outcome = await readGinkgoReport(report);
  if (!outcome)
    throw new Error(
      `critest against ${opts.runtime} produced no report (exit ${r.code}):\n${(r.stdout + r.stderr).slice(-4000)}`,
    );
  return {
    runtime: opts.runtime,
    passed: outcome.passed,
    failed: [...outcome.failed.keys()],
    skipped: outcome.skipped,
    exitCode: r.code,
    durationMs: Date.now() - started,
  };
}
