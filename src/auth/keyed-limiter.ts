/**
 * At most N tasks at a time per key (in this process). Password checks of one account run one after
 * another, so each failure is counted before the next guess is judged: parallel guesses cannot
 * outrun the lockout (across processes the overshoot is at most one guess per process).
 */
export class KeyedLimiter {
  private readonly running = new Map<string, { active: number; waiting: (() => void)[] }>();

  async run<T>(key: string, limit: number, task: () => Promise<T>): Promise<T> {
    let slot = this.running.get(key);
    if (!slot) this.running.set(key, (slot = { active: 0, waiting: [] }));
    if (slot.active >= limit) await new Promise<void>((resolve) => slot!.waiting.push(resolve));
    slot.active++;
    try {
      return await task();
    } finally {
      slot.active--;
      const next = slot.waiting.shift();
      if (next) next();
      else if (slot.active === 0) this.running.delete(key);
    }
  }
}
