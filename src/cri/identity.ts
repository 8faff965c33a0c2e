/**
 * Stable identities of CRI create requests. Kubelet retries a timed-out RunPodSandbox or
 * CreateContainer with the same metadata; a backend that derives its workflow id from these
 * keys makes the retry join the transition already in flight instead of starting a second one
 * (or failing with "name reserved"). Each part is URI-encoded, so distinct requests never
 * share a key whatever characters their names hold.
 */
import type { ContainerMetadata } from './types/container.js';
import type { PodSandboxMetadata } from './types/sandbox.js';

const part = (value: string | number): string => encodeURIComponent(String(value));

/** `sandbox:<namespace>:<name>:<uid>:<attempt>`: one pod attempt. */
export function sandboxRequestKey(m: PodSandboxMetadata): string {
  return ['sandbox', m.namespace, m.name, m.uid, m.attempt].map(part).join(':');
}

/** `container:<sandbox id>:<name>:<attempt>`: one container attempt in one sandbox. */
export function containerRequestKey(podSandboxId: string, m: ContainerMetadata): string {
  return ['container', podSandboxId, m.name, m.attempt].map(part).join(':');
}
