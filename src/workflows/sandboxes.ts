/**
 * Pod sandbox transitions: create (register, then one set-up step: pin namespaces → pod cgroup →
 * files → CNI ADD), stop (CNI DEL, state notready) and remove (the pod's exited containers, then
 * DEL again, unpin, cgroup, files, record). Every step is an idempotent local activity over
 * SandboxManager (they are short and kubelet waits on them); a failed create is compensated by the
 * remove step, which leaves no netns, IP or rule behind.
 * Deterministic code only: the sandbox id comes in with the request (SandboxService derives it).
 */
import { patched, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { SandboxConfig } from '../sandbox/config.js';
import { LOCAL_STEP } from './conventions.js';
import { handBack } from './hand-back.js';
import { withCompensation } from './saga.js';

const {
  sandboxRegister,
  sandboxPinNamespaces,
  sandboxCreateCgroup,
  sandboxWriteFiles,
  sandboxAttachNetwork,
  sandboxSetUp,
  sandboxStop,
  sandboxRemove,
  podRemove,
} = proxyLocalActivities<Activities>(LOCAL_STEP);

/** Namespaces, cgroup, files and CNI ADD as one local activity (sandboxSetUp). */
const ONE_SET_UP_STEP = 'sandbox-set-up-in-one-step';

/** Which sandbox a step acts on: the Berth namespace its events go to, and its id. */
export interface SandboxRef {
  namespace: string;
  id: string;
}

export interface CreateSandboxRequest extends SandboxRef {
  config: SandboxConfig;
  runtimeHandler?: string;
}

export async function createSandbox(req: CreateSandboxRequest): Promise<SandboxRef> {
  const ref: SandboxRef = { namespace: req.namespace, id: req.id };
  // A repeated request for a sandbox that is already ready (a retry after the first run
  // finished) gets it back as it is; nothing is redone, and nothing is undone on failure.
  const state = await sandboxRegister(req);
  if (state === 'ready') return handBack(ref);
  return withCompensation(async (saga) => {
    // Removal undoes every later step too (DEL, unpin, cgroup, files, record), so one undo suffices.
    saga.onFailureUndo('register', () => sandboxRemove(ref));
    if (patched(ONE_SET_UP_STEP)) {
      await sandboxSetUp(ref);
      return handBack(ref);
    }
    // Runs recorded before the set-up became one step replay as they were.
    await sandboxPinNamespaces(ref);
    await sandboxCreateCgroup(ref);
    await sandboxWriteFiles(ref);
    await sandboxAttachNetwork(ref);
    return ref;
  });
}

/** CNI DEL and state notready; the namespaces stay for remove. Idempotent. */
export async function stopSandbox(ref: SandboxRef): Promise<SandboxRef> {
  await sandboxStop(ref);
  return handBack(ref);
}

export interface RemoveSandboxRequest extends SandboxRef {
  /** Containers of the pod whose tasks have exited: removed in the same step, before the sandbox. */
  exitedContainers?: string[];
}

/**
 * Everything of the sandbox goes, and its exited containers with it (one transition, as
 * containerd's RemovePodSandbox removes them inline); refused while containers still run in its
 * cgroup. Requests without containers (all before they existed) run the one step they always did.
 */
export async function removeSandbox(req: RemoveSandboxRequest): Promise<SandboxRef> {
  const ref: SandboxRef = { namespace: req.namespace, id: req.id };
  if (req.exitedContainers?.length) await podRemove({ ...ref, containers: req.exitedContainers });
  else await sandboxRemove(ref);
  return handBack(ref);
}
