/**
 * The CI's share of node conformance: a subset of the [NodeConformance] specs of e2e.test v1.36.3
 * on a one-node cluster on Berth, every one of which must pass. scripts/node-conformance runs them
 * all, on Berth and on the reference containerd (docs/cri.md has the latest table).
 */
import { describe, expect, it } from 'vitest';
import { runNodeConformance } from './conformance.js';

/**
 * 34 specs of every kind a node serves: termination messages, downward API, env expansion, volumes
 * (emptyDir, secret, configMap, hostPath), init and sidecar containers with hooks, run-as-user,
 * logs, exec over the pre-v5 websocket protocol, pod IPs, pod networking, sysctls, ephemeral
 * containers, image defaults.
 */
const CI_SPECS = [
  'Container Runtime blackbox test on terminated container',
  'Downward API should provide (pod name, namespace and IP|container.s limits)',
  'Variable Expansion should allow (composing|substituting)',
  'EmptyDir volumes should support \\(root,0644,tmpfs\\)',
  'Secrets should be consumable from pods in volume \\[',
  'ConfigMap should be consumable from pods in volume \\[',
  'InitContainer \\[NodeConformance\\] should (invoke init containers on a RestartAlways|not start app containers if init containers fail on a RestartAlways)',
  'Security Context When creating a container with runAsUser',
  'Container Lifecycle Hook when create a pod with lifecycle hook should execute (poststart|prestop) exec',
  'Kubelet when scheduling a busybox command',
  'Pods should get a host IP',
  'Pods should be submitted and removed',
  'Pods should support remote command execution over websockets',
  'HostPath should support r/w',
  'Networking Granular Checks: Pods should function for intra-pod communication: http',
  'Sysctls \\[LinuxOnly\\] \\[NodeConformance\\] should support sysctls',
  'Ephemeral Containers',
  'Containers should use the image defaults',
].join('|');
const CI_FOCUS = process.env.BERTH_CONFORMANCE_FOCUS ?? CI_SPECS;
/**
 * Specs of the subset Berth fails (name fragment → what is known): run, and expected to fail
 * exactly so, so a fix or a new failure shows. Empty: Berth passes the whole subset.
 */
const KNOWN_FAILURES: Record<string, string> = {};

describe('node conformance (CI subset) on Berth', () => {
  it('passes every spec of the subset', { timeout: 15 * 60_000 }, async () => {
    const keep = process.env.BERTH_CLUSTER_LOG_DIR;
    const result = await runNodeConformance({
      runtime: 'berth',
      focus: CI_FOCUS,
      timeoutMs: 12 * 60_000,
      procs: 2,
      ...(keep ? { logDir: keep } : {}),
    });
    const known = (name: string): boolean => Object.keys(KNOWN_FAILURES).some((k) => name.includes(k));
    const unexpected = Object.fromEntries([...result.failed].filter(([name]) => !known(name)));
    expect(unexpected, 'failures not in KNOWN_FAILURES').toEqual({});
    const fixed = Object.keys(KNOWN_FAILURES).filter(
      (k) => !process.env.BERTH_CONFORMANCE_FOCUS && result.passed.some((name) => name.includes(k)),
    );
    expect(fixed, 'known failures that pass now: take them off KNOWN_FAILURES').toEqual([]);
    // A focus that matches nothing must not pass quietly.
    expect(result.passed.length).toBeGreaterThanOrEqual(process.env.BERTH_CONFORMANCE_FOCUS ? 1 : 34);
  });
});
