/**
 * Concurrency limits (this process). A Semaphore lets at most `limit` tasks run at once, the rest
 * wait in arrival order; a KeyedLimiter keeps one per key, made when first used and dropped when idle.
 */
export class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A freed slot passes straight to the next waiter (active stays the same), so no newcomer can
    // take it in between.
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export class KeyedLimiter {
  private readonly byKey = new Map<string, Semaphore>();

  constructor(private readonly limit: number) {}

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let semaphore = this.byKey.get(key);
    if (!semaphore) this.byKey.set(key, (semaphore = new Semaphore(this.limit)));
    try {
      return await semaphore.run(task);
    } finally {
      if (semaphore.running === 0 && semaphore.waiting === 0 && this.byKey.get(key) === semaphore) this.byKey.delete(key);
    }
  }

  /** Keys with a task running or waiting (for tests: idle keys are not kept). */
  get size(): number {
    return this.byKey.size;
  }
}
