/**
 * pullImage — resolve a reference, fetch its layers, unpack them into snapshots, record the image.
 * Workflow id `pull:<node>:<ns>:<normalized ref>`: concurrent pulls of one image join one run; a finished
 * run may be followed by a new one (a later pull re-resolves the tag). The fetch step heartbeats
 * bytes done, so a pull fails for making no progress for `noProgressTimeoutMs`, never for taking
 * long; a retried fetch resumes each blob by Range from what the content store already holds.
 * On failure, content and snapshots that no image references are collected again.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { LOCAL_STEP, LONG_STEP, SHORT_STEP } from './conventions.js';
import { handBack } from './hand-back.js';

export interface PullImageRequest {
  /** The normalized reference: `docker.io/library/busybox:latest`. */
  ref: string;
  namespace: string;
  /** `os/arch[/variant]`; the node's platform when absent. */
  platform?: string;
  /** The NATS subject progress is published on. */
  progressSubject: string;
  /** A fetch that moves no byte for this long fails (the heartbeat timeout). */
  noProgressTimeoutMs: number;
}

/** What resolve pins: the digests every later step works on, whatever the tag moves to. */
export interface ResolvedImage {
  ref: string;
  /** The descriptor the reference resolved to (an index or a manifest): the image's target. */
  target: { digest: string; mediaType: string; size: number };
  manifestDigest: string;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
  diffIds: string[];
  /** Manifest + config + layers, compressed: what `berth images` shows as size. */
  size: number;
}

export interface PulledImageResult {
  name: string;
  namespace: string;
  target: ResolvedImage['target'];
  configDigest: string;
  chainId: string;
  size: number;
}

/** Resolution talks to the registry: an unreachable one is tried a few times, then reported. */
const resolveSteps = proxyActivities<Activities>({
  ...SHORT_STEP,
  // A manifest and a config: small. A worker that died mid-step is noticed after this long.
  startToCloseTimeout: '30 seconds',
  retry: { ...SHORT_STEP.retry, maximumAttempts: 4 },
});
/**
 * The same as a local activity: resolving is a few small requests, and a pull of a small image
 * is mostly its steps' round trips through the server, which a local activity does not make.
 */
const localResolve = proxyLocalActivities<Activities>({
  ...LOCAL_STEP,
  startToCloseTimeout: '30 seconds',
  retry: { ...SHORT_STEP.retry, maximumAttempts: 4 },
});
const LOCAL_RESOLVE_PATCH = 'pull-resolve-local';
const shortSteps = proxyActivities<Activities>(SHORT_STEP);
/** Recording is one append to the local log: no round trip through the server for it. */
const localSteps = proxyLocalActivities<Activities>(LOCAL_STEP);

export async function pullImage(req: PullImageRequest): Promise<PulledImageResult> {
  const fetchSteps = proxyActivities<Activities>({
    ...LONG_STEP,
    // The fetch itself gives up after noProgressTimeoutMs without a byte (and says so); the
    // heartbeat timeout, a little longer, catches a worker that died or hung.
    heartbeatTimeout: Math.round(req.noProgressTimeoutMs * 1.5),
    // Each attempt resumes where the last stopped; attempts that all stall end the pull.
    retry: { ...LONG_STEP.retry, maximumAttempts: 5 },
  });
  const unpackSteps = proxyActivities<Activities>({
    ...LONG_STEP,
    // The unpack beats every 2 s while it works: a dead worker is noticed within 10 s.
    heartbeatTimeout: '10 seconds',
    retry: { ...LONG_STEP.retry, maximumAttempts: 5 },
  });
  try {
    // Runs recorded before resolve became local replay as they were.
    const resolved = patched(LOCAL_RESOLVE_PATCH)
      ? await localResolve.pullResolve(req)
      : await resolveSteps.pullResolve(req);
    // The fetch step unpacks layers as they land; the unpack step only runs when it could not finish.
    const unpacked = await fetchSteps.pullFetchLayers(req, resolved).catch((err: unknown) => {
      throw noProgressFailure(err, req);
    });
    const chainId = unpacked ?? (await unpackSteps.pullUnpack(req, resolved));
    return handBack(await localSteps.pullRecord(req, resolved, chainId));
  } catch (err) {
    // Whatever this pull left that no image references (content, snapshots) goes again.
    await shortSteps
      .imagesCollectGarbage({
        reason: `pull of ${req.ref} failed`,
        releaseWorkflow: workflowInfo().workflowId,
      })
      .catch(() => undefined);
    throw err;
  }
}

/** A fetch whose last attempt timed out on its heartbeat made no progress: say so, as the user's error. */
function noProgressFailure(err: unknown, req: PullImageRequest): unknown {
  if (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'HEARTBEAT'
  ) {
    return ApplicationFailure.create({
      type: 'unavailable',
      nonRetryable: true,
      message: `pull of ${req.ref} made no progress for ${Math.round(req.noProgressTimeoutMs / 1000)} s`,
      cause: err,
    });
  }
  return err;
}
