/** Snapshot errors, each naming the snapshot involved; codes come from common/errors. */
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../common/errors.js';

/** The named snapshot (or parent) does not exist, or is not of the kind the operation needs. */
export class SnapshotNotFoundError extends NotFoundError {
  constructor(
    readonly snapshot: string,
    what = 'snapshot',
  ) {
    super(`${what} ${JSON.stringify(snapshot)} does not exist`);
  }
}

/** A snapshot with this key or name already exists. */
export class SnapshotExistsError extends AlreadyExistsError {
  constructor(readonly snapshot: string) {
    super(`snapshot ${JSON.stringify(snapshot)} already exists`);
  }
}

/** The snapshot is the parent of other snapshots and cannot be removed. */
export class SnapshotHasChildrenError extends FailedPreconditionError {
  constructor(
    readonly snapshot: string,
    readonly children: readonly string[],
  ) {
    super(
      `snapshot ${JSON.stringify(snapshot)} is the parent of ${children.map((c) => JSON.stringify(c)).join(', ')}`,
    );
  }
}

/** The operation does not apply to this kind of snapshot (e.g. committing a view). */
export class SnapshotKindError extends FailedPreconditionError {
  constructor(snapshot: string, kind: string, operation: string) {
    super(
      `cannot ${operation} snapshot ${JSON.stringify(snapshot)}: it is ${kind === 'active' ? 'an' : 'a'} ${kind} snapshot`,
    );
  }
}

/** A key or name the snapshotter cannot store (empty, too long, control characters). */
export class InvalidSnapshotKeyError extends InvalidArgumentError {
  constructor(key: string, why: string) {
    super(`invalid snapshot key ${JSON.stringify(key)}: ${why}`);
  }
}
