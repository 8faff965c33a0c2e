/** Well-formed CRI requests for tests, to be broken one field at a time. */
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';

let counter = 0;

export function podConfig(): PodSandboxConfig {
  counter += 1;
  return {
    metadata: { name: `pod-${counter}`, uid: `uid-${counter}`, namespace: 'default', attempt: 0 },
    hostname: '',
    log_directory: `/tmp/berth-test-logs/pod-${counter}`,
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' }],
    labels: { app: 'web', tier: 'front' },
    annotations: { note: 'test' },
    linux: {
      cgroup_parent: '/kubepods/besteffort/pod1',
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

export function containerConfig(): ContainerConfig {
  return {
    metadata: { name: 'app', attempt: 1 },
    image: { image: 'busybox:latest' },
    command: ['/bin/sh'],
    args: ['-c', 'sleep 1000'],
    working_dir: '/work',
    envs: [{ key: 'A', value: '1' }],
    mounts: [{ container_path: '/data', host_path: '/tmp', readonly: true }],
    labels: { app: 'web' },
    annotations: {},
    log_path: 'app/0.log',
    linux: {
      resources: { cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512, memory_limit_in_bytes: 64 << 20 },
      security_context: { capabilities: { add_capabilities: ['NET_ADMIN'] } },
    },
    stop_signal: 'SIGQUIT',
  };
}
