/** Failed-login counts in the embedded store: per account on disk, per address in memory. */
import type { RegulationStore } from "../regulation-store.js";
import { bumpVersion, type EmbeddedState } from "./state.js";

export function embeddedRegulationStore(state: EmbeddedState): RegulationStore {
  const { failures, writer } = state;
  // Per-address windows stay in memory only: they are rate limits of minutes, and the per-account
  // count (recordLoginFailure) is the lockout that must survive a restart.
  const ipWindows = new Map<string, { window: number; count: number }>();
  return {
    async recordLoginFailure(user, now, rule) {
      const prev = failures.get(user) ?? { failures: 0, lockedAt: null };
      let next = { ...prev };
      if (next.lockedAt !== null && next.lockedAt + rule.lockMs <= now) next = { failures: 0, lockedAt: null };
      next.failures += 1;
      if (next.lockedAt === null && rule.maxFailures > 0 && next.failures >= rule.maxFailures) {
        next.lockedAt = now;
        bumpVersion(state, user);
      }
      failures.set(user, next);
      // Durable: a crash must not reset the count, nor end a lock early.
      await writer.durable();
      return { ...next };
    },

    async getLoginFailures(user) {
      return { ...(failures.get(user) ?? { failures: 0, lockedAt: null }) };
    },

    async clearLoginFailures(user) {
      // Durable: an unlock an admin was told about holds.
      if (failures.delete(user)) await writer.durable();
    },

    async countIpFailure(ip, now, windowMs) {
      const window = Math.floor(now / windowMs);
      const entry = ipWindows.get(ip);
      const next = entry && entry.window === window ? { window, count: entry.count + 1 } : { window, count: 1 };
      ipWindows.set(ip, next);
      // Addresses are cheap to rotate (IPv6): windows that have passed are dropped.
      if (ipWindows.size > 10_000) for (const [key, e] of ipWindows) if (e.window < window) ipWindows.delete(key);
      return next.count;
    },

    async getIpFailures(ip, now, windowMs) {
      const entry = ipWindows.get(ip);
      return entry && entry.window === Math.floor(now / windowMs) ? entry.count : 0;
    },
  };
}
