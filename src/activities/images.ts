/**
 * Activities of the image transitions (pullImage, removeImage, tagImage). Each is idempotent:
 * resolve stores content by digest (storing twice is a no-op), fetch skips committed blobs and
 * resumes partial ones by Range, unpack reuses committed chains, record appends only when the
 * record would change, and every event carries the step's idempotency key.
 */
import { Context } from '@temporalio/activity';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../common/errors.js';
import { readImageArchive } from '../images/archive.js';
import type { ImportImageRequest } from '../workflows/image-admin.js';
import type { Digest } from '../content/digest.js';
import { collectImageGarbage, type GcResult } from '../images/gc.js';
import { registryAccess } from '../images/clients.js';
import { progressBus } from '../images/progress.js';
import { resolveImage } from '../images/resolve.js';
import { imageSession } from '../images/session.js';
import { PullTracker } from '../images/tracker.js';
import { unpackImage } from '../images/unpack-image.js';
import { LayerArrivals } from '../images/arrivals.js';
import type { ImageRecord } from '../events/projections/state.js';
import { formatReference, nodePlatform, parsePlatform, parseReference } from '../registry/index.js';
import type { PullImageRequest, PulledImageResult, ResolvedImage } from '../workflows/pull-image.js';
import { heartbeat, recordEvent, type ActivityContext } from './context.js';

/** The fetch's heartbeats while bytes flow: at most one per this long (or a quarter of the no-progress time). */
const HEARTBEAT_EVERY_MS = 200;

function workflowId(): string {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw new Error('image activities run inside a workflow');
  return execution.workflowId;
}

/** The activity's cancellation (a timed-out or cancelled attempt) as an AbortSignal. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** The name an imported image gets: a full reference, normalized; a bare tag needs a name given. */
function importName(path: string, name: string | undefined): string {
  if (!name) throw new InvalidArgumentError(`${path} does not name its image: give it a name (--name)`);
  if (!name.includes('/') && !name.includes(':'))
    throw new InvalidArgumentError(
      `${path} names its image only by the tag "${name}": give it a full name (--name)`,
    );
  return formatReference(parseReference(name));
}

export function createImageActivities(ctx: ActivityContext) {
  const session = imageSession(ctx);
  const bus = progressBus(ctx);
  const record = (req: Parameters<typeof recordEvent>[1]) => recordEvent(ctx, req);

  /** Appends `/content/create` for each blob this namespace has no record of yet. */
  const recordContent = async (namespace: string, digests: string[]): Promise<void> => {
    for (const digest of digests) {
      if (ctx.events.projections.get('content', namespace, digest)) continue;
      const info = await ctx.content.info(digest as Digest);
      await record({
        namespace,
        topic: '/content/create',
        data: { v: 1, digest, size: info.size },
        step: `content:${digest}`,
      });
    }
  };

  return {
    async pullResolve(req: PullImageRequest): Promise<ResolvedImage> {
      const ref = parseReference(req.ref);
      const access = registryAccess(ctx, ref, session.credentials.get(workflowId()));
      const tracker = new PullTracker(req.ref, (m) => void bus.publish(req.progressSubject, m));
      try {
        tracker.setPhase('resolve');
        const signal = cancellation();
        const { resolved, stored } = await resolveImage(
          access.client,
          ctx.content,
          ref,
          req.platform,
          signal,
        );
        session.holdFor(workflowId(), [...stored, ...resolved.layers.map((l) => l.digest)]);
        await recordContent(req.namespace, stored);
        return resolved;
      } finally {
        tracker.stop();
        await access.close();
      }
    },

    /** Returns the image's chain id when every layer got unpacked too (the unpack step is then not needed). */
    async pullFetchLayers(req: PullImageRequest, image: ResolvedImage): Promise<string | undefined> {
      const ref = parseReference(req.ref);
      const access = registryAccess(ctx, ref, session.credentials.get(workflowId()));
      session.holdFor(workflowId(), [
        image.target.digest,
        image.manifestDigest,
        image.configDigest,
        ...image.layers.map((l) => l.digest),
      ]);
      const tracker = new PullTracker(
        req.ref,
        (m) => void bus.publish(req.progressSubject, m),
        image.layers.map((l) => ({ digest: l.digest, size: l.size, kind: 'layer' as const })),
      );
      tracker.setPhase('fetch');
      // A fetch that moves no byte for the no-progress time is abandoned (and retried by the
      // workflow from where it stopped); a slow one that keeps moving is never cut.
      const stalled = new AbortController();
      let lastProgress = Date.now();
      const watchdog = setInterval(
        () => {
          if (Date.now() - lastProgress > req.noProgressTimeoutMs) stalled.abort();
        },
        Math.min(1_000, req.noProgressTimeoutMs),
      );
      const cancelled = cancellation();
      // An unpack that refuses a layer (diff_id mismatch) ends the downloads too.
      const refused = new AbortController();
      const signal = AbortSignal.any([stalled.signal, refused.signal, ...(cancelled ? [cancelled] : [])]);
      let lastBeat = 0;
      // Layers are unpacked in order as they land, while the later ones still download; the next
      // one to apply streams into the unpacker as it downloads when its download starts then.
      const arrivals = new LayerArrivals(
        ctx.content,
        image.layers.map((l) => l.digest),
      );
      await arrivals.check();
      const unpacking = unpackImage(
        ctx,
        req.namespace,
        image,
        record,
        (p) => {
          const layer = image.layers[p.layer];
          if (layer) tracker.update(layer.digest, { status: p.status });
        },
        arrivals,
      );
      unpacking.catch(() => refused.abort());
      let tail: NodeJS.Timeout | undefined;
      let chainId: string | undefined;
      try {
        await access.puller.pull(
          { ...ref, digest: image.target.digest as Digest },
          {
            platform: req.platform ? parsePlatform(req.platform) : nodePlatform(),
            signal,
            streamLayer: (digest) => arrivals.offerStream(digest),
            onProgress: (p) => {
              if (p.kind !== 'layer') return;
              tracker.update(p.digest, {
                done: p.done,
                total: p.total,
                status: p.done >= p.total ? 'fetched' : 'fetching',
              });
              lastProgress = Date.now();
              // A beat per chunk cost the worker more CPU than the hashing (each one runs through
              // the SDK's observable pipeline); a few a second keep the no-progress timeout fed.
              if (lastProgress - lastBeat >= Math.min(HEARTBEAT_EVERY_MS, req.noProgressTimeoutMs / 4)) {
                lastBeat = lastProgress;
                heartbeat({ bytesDone: tracker.bytesDone() });
              }
              if (p.stored) void arrivals.check(p.digest);
            },
          },
        );
        await arrivals.finish();
        // Downloads are done; what is left is unpacking, which is progress too.
        clearInterval(watchdog);
        tail = setInterval(() => heartbeat({ phase: 'unpack' }), 2_000);
        tracker.flush(); // the download's last word: every byte in
        tracker.setPhase('unpack');
        chainId = await unpacking;
      } catch (err) {
        // Refused before the downloads were told to stop: the unpack's own error is the one to report.
        const unpackError = refused.signal.aborted
          ? await unpacking.then(
              () => undefined,
              (e: unknown) => e,
            )
          : undefined;
        await arrivals.finish(err);
        if (unpackError !== undefined && !stalled.signal.aborted) throw unpackError;
        if (stalled.signal.aborted) {
          throw new UnavailableError(
            `pull of ${req.ref} made no progress for ${Math.round(req.noProgressTimeoutMs / 1000)} s (${tracker.bytesDone()} bytes fetched)`,
            { cause: err },
          );
        }
        throw err;
      } finally {
        clearInterval(watchdog);
        if (tail) clearInterval(tail);
        await unpacking.catch(() => undefined);
        tracker.flush();
        tracker.stop();
        await access.close();
      }
      const present = [image.target.digest, image.manifestDigest, ...image.layers.map((l) => l.digest)];
      await recordContent(req.namespace, present);
      return chainId;
    },

    async pullUnpack(req: PullImageRequest, image: ResolvedImage): Promise<string | undefined> {
      const tracker = new PullTracker(
        req.ref,
        (m) => void bus.publish(req.progressSubject, m),
        image.layers.map((l) => ({ digest: l.digest, size: l.size, kind: 'layer' as const })),
      );
      for (const l of image.layers) tracker.update(l.digest, { done: l.size, status: 'fetched' });
      tracker.setPhase('unpack');
      // Unpacking a large layer makes progress the log cannot see byte by byte: beat while it runs.
      const beat = setInterval(() => heartbeat({ phase: 'unpack' }), 2_000);
      try {
        // A collection may have run between the steps (after a restart nothing holds the blobs).
        const missing = [];
        for (const l of image.layers)
          if (!(await ctx.content.has(l.digest as Digest))) missing.push(l.digest);
        if (missing.length) {
          throw new NotFoundError(
            `layers of ${req.ref} are no longer in the content store: ${missing.join(', ')}; pull again`,
          );
        }
        return await unpackImage(ctx, req.namespace, image, record, (p) => {
          const layer = image.layers[p.layer];
          if (layer) tracker.update(layer.digest, { status: p.status });
          heartbeat({ layer: p.layer });
        });
      } finally {
        clearInterval(beat);
        tracker.flush();
        tracker.stop();
      }
    },

    async pullRecord(
      req: PullImageRequest,
      image: ResolvedImage,
      chainId: string | undefined,
    ): Promise<PulledImageResult> {
      const name = req.ref;
      const prior = ctx.events.projections.get('images', req.namespace, name);
      const same =
        prior &&
        prior.target.digest === image.target.digest &&
        prior.configDigest === image.configDigest &&
        prior.chainId === chainId &&
        prior.size === image.size;
      if (!same) {
        await record({
          namespace: req.namespace,
          topic: prior ? '/images/update' : '/images/create',
          data: {
            v: 2,
            name,
            target: image.target,
            ...(prior ? { labels: prior.labels } : {}),
            configDigest: image.configDigest,
            ...(chainId ? { chainId } : {}),
            size: image.size,
          },
        });
      }
      session.releaseFor(workflowId());
      session.credentials.delete(workflowId());
      const rec = ctx.events.projections.get('images', req.namespace, name) as ImageRecord;
      return {
        name,
        namespace: req.namespace,
        target: image.target,
        configDigest: image.configDigest,
        chainId: rec.chainId ?? '',
        size: image.size,
      };
    },

    /** Removes what no image references; a failed pull's caller passes its workflow id to drop its hold. */
    async imagesCollectGarbage(opts: { reason: string; releaseWorkflow?: string }): Promise<GcResult> {
      if (opts.releaseWorkflow) {
        session.releaseFor(opts.releaseWorkflow);
        session.credentials.delete(opts.releaseWorkflow);
      }
      // Heartbeats, so a collection whose worker died is retried within seconds, not at its timeout.
      const beat = setInterval(() => heartbeat({ phase: 'gc' }), 2_000);
      try {
        const result = await collectImageGarbage(ctx, record);
        ctx.logger.info({ reason: opts.reason, ...result }, 'image garbage collected');
        return result;
      } finally {
        clearInterval(beat);
      }
    },

    /** Loads an OCI layout or docker-archive tar on this node into the content store; names its images. */
    async importLoad(req: ImportImageRequest): Promise<ResolvedImage[]> {
      const beat = setInterval(() => heartbeat({ phase: 'import' }), 2_000);
      try {
        const images = await readImageArchive(req.path, ctx.content);
        if (images.length === 0) throw new InvalidArgumentError(`${req.path} names no image`);
        if (req.name && images.length > 1)
          throw new InvalidArgumentError(
            `${req.path} holds ${images.length} images: a --name applies to one`,
          );
        const out = images.map((img) => ({
          ref: importName(req.path, req.name ?? img.name),
          ...img.resolved,
        }));
        session.holdFor(
          workflowId(),
          out.flatMap((i) => [
            i.target.digest,
            i.manifestDigest,
            i.configDigest,
            ...i.layers.map((l) => l.digest),
          ]),
        );
        for (const i of out)
          await recordContent(req.namespace, [
            i.target.digest,
            i.manifestDigest,
            i.configDigest,
            ...i.layers.map((l) => l.digest),
          ]);
        return out;
      } finally {
        clearInterval(beat);
      }
    },

    /** Records an image's removal (if it is still recorded). */
    async imageDelete(req: { namespace: string; name: string }): Promise<boolean> {
      if (!ctx.events.projections.get('images', req.namespace, req.name)) return false;
      await record({ namespace: req.namespace, topic: '/images/delete', data: { v: 1, name: req.name } });
      return true;
    },

    /** Records `target` under a second name (a tag), replacing what that name held. */
    async imageTag(req: { namespace: string; source: string; target: string }): Promise<ImageRecord> {
      const src = ctx.events.projections.get('images', req.namespace, req.source);
      if (!src) throw new NotFoundError(`image ${req.source} not found in namespace ${req.namespace}`);
      const prior = ctx.events.projections.get('images', req.namespace, req.target);
      if (!(prior && prior.target.digest === src.target.digest && prior.chainId === src.chainId)) {
        await record({
          namespace: req.namespace,
          topic: prior ? '/images/update' : '/images/create',
          data: {
            v: 2,
            name: req.target,
            target: src.target,
            labels: src.labels,
            ...(src.configDigest ? { configDigest: src.configDigest } : {}),
            ...(src.chainId ? { chainId: src.chainId } : {}),
            ...(src.size === undefined ? {} : { size: src.size }),
          },
        });
      }
      return ctx.events.projections.get('images', req.namespace, req.target) as ImageRecord;
    },
  };
}
