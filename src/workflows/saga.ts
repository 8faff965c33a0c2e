/**
 * Compensation for transitions (the saga pattern): each step that changes the world registers how
 * to undo it; when a later step fails, the undos run newest first, even if the workflow is being
 * cancelled, and the original failure is rethrown. Undo activities must be idempotent: a crash
 * during compensation replays it.
 */
import { CancellationScope, log } from '@temporalio/workflow';

export class Saga {
  private readonly undos: { step: string; undo: () => Promise<unknown> }[] = [];

  /** Registers the undo of a step that has completed. */
  onFailureUndo(step: string, undo: () => Promise<unknown>): void {
    this.undos.push({ step, undo });
  }

  /** Runs every registered undo, newest first; an undo that fails is logged and the rest still run. */
  async compensate(): Promise<string[]> {
    const failed: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const { step, undo } of [...this.undos].reverse()) {
        try {
          await undo();
        } catch (err) {
          failed.push(step);
          log.error('compensation step failed', { step, error: String(err) });
        }
      }
    });
    return failed;
  }
}

/** Runs `body` with a saga; on failure compensates and rethrows the original failure. */
export async function withCompensation<T>(body: (saga: Saga) => Promise<T>): Promise<T> {
  const saga = new Saga();
  try {
    return await body(saga);
  } catch (err) {
    await saga.compensate();
    throw err;
  }
}
