/**
 * Per-key mutual exclusion within one process: operations on one key run one after another (in
 * call order), operations on different keys run at once. A failed operation does not block the next.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, op: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(op, op);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    // The map holds only keys with work queued or running.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
