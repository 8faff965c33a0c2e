/**
 * removeImage and tagImage: the image transitions that change only records (and, for removal,
 * collect what no image references any more); importImage: an OCI layout archive on this node
 * into the content store, then the pull's own unpack and record steps for each image it names.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ImageRecord } from '../events/projections/state.js';
import { LONG_STEP, SHORT_STEP } from './conventions.js';
import type { PullImageRequest, PulledImageResult } from './pull-image.js';

const { imageDelete, imageTag } = proxyActivities<Activities>({
  ...SHORT_STEP,
  startToCloseTimeout: '5 minutes',
});
const { imagesCollectGarbage } = proxyActivities<Activities>({
  ...SHORT_STEP,
  // Collection walks the content store and the snapshots: give it longer than a syscall. It
  // heartbeats, so one whose worker died (a crashed berthd) is retried after the heartbeat timeout.
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
});

export interface RemoveImageResult {
  removed: boolean;
  content: string[];
  snapshots: string[];
}

export async function removeImage(req: { namespace: string; name: string }): Promise<RemoveImageResult> {
  const removed = await imageDelete(req);
  const gc = await imagesCollectGarbage({ reason: `image ${req.name} removed` });
  return { removed, ...gc };
}

export async function tagImage(req: {
  namespace: string;
  source: string;
  target: string;
}): Promise<ImageRecord> {
  return imageTag(req);
}

const { importLoad, pullUnpack, pullRecord } = proxyActivities<Activities>({
  ...LONG_STEP,
  heartbeatTimeout: '30 seconds',
  retry: { ...LONG_STEP.retry, maximumAttempts: 3 },
});

export interface ImportImageRequest {
  path: string;
  namespace: string;
  /** The name for an archive holding one image (required when it names the image by tag only). */
  name?: string;
  progressSubject: string;
}

export async function importImage(req: ImportImageRequest): Promise<PulledImageResult[]> {
  try {
    const images = await importLoad(req);
    const results: PulledImageResult[] = [];
    for (const image of images) {
      const step: PullImageRequest = {
        ref: image.ref,
        namespace: req.namespace,
        progressSubject: req.progressSubject,
        noProgressTimeoutMs: 60_000,
      };
      const chainId = await pullUnpack(step, image);
      results.push(await pullRecord(step, image, chainId));
    }
    return results;
  } catch (err) {
    // What the archive brought that no image references goes again.
    await imagesCollectGarbage({
      reason: `import of ${req.path} failed`,
      releaseWorkflow: workflowInfo().workflowId,
    }).catch(() => undefined);
    throw err;
  }
}
