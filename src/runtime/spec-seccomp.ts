/**
 * Berth's default seccomp profile: allow by default, and return EPERM for the syscalls that reach
 * kernel-global state (modules, clocks, keyrings, reboot, swap), escape or reshape isolation
 * (namespaces, mounts, handle-based opens, ptrace of other processes), or widen the kernel attack surface
 * (bpf, perf, userfaultfd). Groups tied to a capability are allowed again when the container holds it,
 * because then the capability already grants that power.
 */
import type { OciSeccomp, OciSeccompSyscall } from './oci-types.js';

const EPERM = 1;

/** Syscall groups denied unless the container holds the capability (or always, when `capability` is null). */
const DENIED_GROUPS: { capability: string | null; syscalls: string[] }[] = [
  {
    capability: 'CAP_SYS_ADMIN',
    syscalls: [
      'mount',
      'umount',
      'umount2',
      'pivot_root',
      'unshare',
      'setns',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
      'mount_setattr',
      'quotactl',
      'quotactl_fd',
      'lookup_dcookie',
      'name_to_handle_at',
      'swapon',
      'swapoff',
      'fanotify_init',
      'bpf',
      'perf_event_open',
    ],
  },
  {
    capability: 'CAP_SYS_MODULE',
    syscalls: ['init_module', 'finit_module', 'delete_module', 'create_module'],
  },
  { capability: 'CAP_SYS_BOOT', syscalls: ['reboot', 'kexec_load', 'kexec_file_load'] },
  {
    capability: 'CAP_SYS_TIME',
    syscalls: ['settimeofday', 'stime', 'clock_settime', 'clock_adjtime', 'adjtimex'],
  },
  {
    capability: 'CAP_SYS_PTRACE',
    syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd'],
  },
  { capability: 'CAP_SYS_PACCT', syscalls: ['acct'] },
  { capability: 'CAP_SYS_RAWIO', syscalls: ['iopl', 'ioperm'] },
  { capability: 'CAP_DAC_READ_SEARCH', syscalls: ['open_by_handle_at'] },
  { capability: 'CAP_SYS_NICE', syscalls: ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages'] },
  {
    capability: null,
    syscalls: [
      'add_key',
      'request_key',
      'keyctl',
      'userfaultfd',
      'uselib',
      'ustat',
      'sysfs',
      '_sysctl',
      'nfsservctl',
      'get_kernel_syms',
      'query_module',
      'vm86',
      'vm86old',
      'afs_syscall',
      'tuxcall',
      'security',
      'vserver',
    ],
  },
];

function architecturesFor(arch: string): string[] {
  switch (arch) {
    case 'x86_64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'aarch64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default:
      return [];
  }
}

/** The default profile for a container holding `capabilities` on a host of architecture `arch`. */
export function defaultSeccompProfile(capabilities: readonly string[], arch: string): OciSeccomp {
  const held = new Set(capabilities);
  const denied = DENIED_GROUPS.filter((g) => g.capability === null || !held.has(g.capability)).flatMap(
    (g) => g.syscalls,
  );
  const syscalls: OciSeccompSyscall[] = [];
  if (denied.length > 0) syscalls.push({ names: denied, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: architecturesFor(arch), syscalls };
}
