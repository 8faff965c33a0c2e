/**
 * removeImage and tagImage: the image transitions that change only records (and, for removal,
 * collect what no image references any more).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { ImageRecord } from '../events/projections/state.js';
import { SHORT_STEP } from './conventions.js';

const { imageDelete, imageTag, imagesCollectGarbage } = proxyActivities<Activities>({
  ...SHORT_STEP,
  // Collection walks the content store and the snapshots: give it longer than a syscall.
  startToCloseTimeout: '5 minutes',
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
