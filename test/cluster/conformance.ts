/**
 * Kubernetes v1.36 node conformance: e2e.test (built from k8s.io/kubernetes v1.36.3 test/e2e by
 * scripts/setup) runs the `[NodeConformance]` specs against a one-node cluster on a node runtime,
 * its images served as look-alikes from a loopback registry mirrored under the upstream names.
 * Offline skips are the only specs left out, each with its reason.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';
import { TOOLS_BIN } from '../helpers/berthd.js';
import { escapeRegex, readGinkgoReport } from '../helpers/ginkgo-report.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { RuntimeName } from '../kubelet/runtimes.js';
import { Cluster } from './cluster.js';
import { E2E_REGISTRIES, pushConformanceImages } from './conformance-images.js';

export const E2E_TEST = path.join(TOOLS_BIN, 'e2e.test');
const GINKGO = path.join(TOOLS_BIN, 'ginkgo');
/** The specs' Ginkgo label (their names also carry `[NodeConformance]`). */
export const NODE_CONFORMANCE_LABEL = 'NodeConformance';

/** Specs left out on both runtimes, name fragment → why they cannot run here. */
export const CONFORMANCE_SKIPS: Record<string, string> = {
  'should be able to pull image from invalid registry': 'asks a registry on the internet to refuse it',
  'should be able to pull from private registry with secret':
    'needs credentials to a registry on the internet',
  'with a credential provider plugin': 'needs a credential provider plugin for a registry on the internet',
};

export interface ConformanceResult {
  runtime: RuntimeName;
  passed: string[];
  failed: Map<string, string>;
  skipped: string[];
  exitCode: number;
  durationMs: number;
}

export async function runNodeConformance(opts: {
  runtime: RuntimeName;
  /** Narrows the specs: a Ginkgo focus regex on their names (the label selects the set). */
  focus?: string;
  timeoutMs: number;
  /** Parallel e2e.test processes (Ginkgo's runner); 1 by default. */
  procs?: number;
  /** Keeps e2e.test's output and every component's log there. */
  logDir?: string;
}): Promise<ConformanceResult> {
  if (!existsSync(E2E_TEST)) throw new Error(`e2e.test is not at ${E2E_TEST}: run scripts/setup --tests`);
  const work = await mkdtemp(path.join(tmpdir(), `berth-conformance-${opts.runtime}-`));
  let reg: TestRegistry | undefined;
  let cluster: Cluster | undefined;
  try {
    reg = await startRegistry();
    await pushConformanceImages(reg, work);
    cluster = await Cluster.start({
      runtime: opts.runtime,
      registry: { host: reg.host, mirrorOf: E2E_REGISTRIES },
    });
    const report = path.join(work, 'report.json');
    const started = Date.now();
    const filters = [
      `--label-filter=${NODE_CONFORMANCE_LABEL}`,
      ...(opts.focus ? [`--focus=${opts.focus}`] : []),
      `--skip=${Object.keys(CONFORMANCE_SKIPS).map(escapeRegex).join('|')}`,
      '--no-color',
      `--timeout=${Math.floor(opts.timeoutMs / 1000)}s`,
    ];
    const e2eFlags = [
      `--kubeconfig=${cluster.kubeconfig}`,
      '--provider=skeleton',
      '--num-nodes=1',
      `--report-dir=${work}`,
    ];
    const procs = opts.procs ?? 1;
    // One process runs e2e.test itself; more go through Ginkgo's runner, which gives each its share
    // of the specs and runs the [Serial] ones alone at the end.
    const r =
      procs === 1
        ? await execFileCapture(
            E2E_TEST,
            [
              ...filters.map((f) => f.replace(/^--/, '--ginkgo.')),
              `--ginkgo.json-report=${report}`,
              ...e2eFlags,
            ],
            { timeoutMs: opts.timeoutMs + 120_000, cwd: work },
          )
        : await execFileCapture(
            GINKGO,
            [
              `--procs=${procs}`,
              ...filters,
              `--output-dir=${work}`,
              '--json-report=report.json',
              E2E_TEST,
              '--',
              ...e2eFlags,
            ],
            { timeoutMs: opts.timeoutMs + 120_000, cwd: work },
          );
    if (opts.logDir) {
      await mkdir(opts.logDir, { recursive: true });
      await writeFile(path.join(opts.logDir, `e2e-${opts.runtime}.log`), r.stdout + r.stderr);
    }
    const outcome = await readGinkgoReport(report);
    if (!outcome)
      throw new Error(
        `e2e.test on ${opts.runtime} produced no report (exit ${r.code}):\n${(r.stdout + r.stderr).slice(-4000)}`,
      );
    return { runtime: opts.runtime, ...outcome, exitCode: r.code, durationMs: Date.now() - started };
  } finally {
    await cluster?.stop(opts.logDir ? { keepLogsIn: path.join(opts.logDir, opts.runtime) } : {});
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  }
}
