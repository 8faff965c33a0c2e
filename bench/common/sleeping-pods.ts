/**
 * Pods of one sleeping container each, made through crictl on any runtime: the memory and
 * kept-connection benches count per-pod costs with them.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes the container config (`sleep 3600` from `image`) under `dir`; returns its path. */
export async function writeSleepingContainer(dir: string, image: string): Promise<string> {
  const container = path.join(dir, 'container.json');
  await writeFile(
    container,
    JSON.stringify({ metadata: { name: 'app' }, image: { image }, command: ['sleep', '3600'], linux: {} }),
  );
  return container;
}

/**
 * Makes pod number `index` of `runtime` (runp, create, start) with `crictl`, a function running
 * crictl against that runtime and returning its trimmed output.
 */
export async function makeSleepingPod(
  crictl: (args: string[]) => Promise<string>,
  dir: string,
  container: string,
  runtime: string,
  index: number,
): Promise<void> {
  const pod = path.join(dir, `pod-${runtime}-${index}.json`);
  await writeFile(
    pod,
    JSON.stringify({
      metadata: { name: `pod-${index}`, namespace: 'bench', uid: `uid-${runtime}-${index}`, attempt: 0 },
      log_directory: path.join(dir, 'logs', runtime, String(index)),
      linux: {},
    }),
  );
  const podId = await crictl(['runp', pod]);
  await crictl(['start', await crictl(['create', podId, container, pod])]);
}
