/** Locks and published messages within the one process that uses the embedded store. */
import type { Coordination, Unsubscribe } from "../coordination.js";
import type { EmbeddedState } from "./state.js";

export function embeddedCoordination({ events }: EmbeddedState): Coordination {
  // Sweep locks stay in memory only: each lasts one schedule tick, and no other process shares this store.
  const locks = new Map<string, { owner: string; until: number }>();
  return {
    async tryLock(name, owner, ttlMs, now) {
      const held = locks.get(name);
      if (held && held.until > now) return false;
      locks.set(name, { owner, until: now + ttlMs });
      return true;
    },

    async publish(channel, message) {
      // Delivered asynchronously, as over Redis.
      setImmediate(() => events.emit(channel, message));
    },

    async subscribe(channel, handler): Promise<Unsubscribe> {
      events.on(channel, handler);
      return () => events.off(channel, handler);
    },

    // Messages cannot be lost within one process: the subscription is never re-established.
    subscriptionEpoch: () => 0,
  };
}
