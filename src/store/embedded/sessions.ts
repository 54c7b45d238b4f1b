/** Sessions in the embedded store: a map by id, written to disk when a session starts or ends. */
import type { CreateSessionResult, SessionRecord, SessionStore } from "../session-store.js";
import type { EmbeddedState } from "./state.js";

const alive = (s: SessionRecord, now: number) => s.expiresAt > now && s.absoluteExpiresAt > now;

export function embeddedSessionStore({ sessions, writer }: EmbeddedState): SessionStore {
  const userSessions = (user: string) => [...sessions.values()].filter((s) => s.user === user).sort((a, b) => a.createdAt - b.createdAt);
  return {
    async createSession(session, limit): Promise<CreateSessionResult> {
      const live: SessionRecord[] = [];
      for (const s of userSessions(session.user)) {
        if (alive(s, limit.now)) live.push(s);
        else sessions.delete(s.id);
      }
      const evicted: string[] = [];
      if (live.length >= limit.maxSessions) {
        if (limit.policy !== "evictOldest") return { created: false, reason: "limit" };
        for (const s of live.slice(0, live.length - limit.maxSessions + 1)) {
          sessions.delete(s.id);
          evicted.push(s.id);
        }
      }
      sessions.set(session.id, structuredClone(session));
      // Durable: sessions evicted here have ended, and the new one has been handed to its user.
      await writer.durable();
      return { created: true, evicted };
    },

    async getSession(tag, id) {
      const s = sessions.get(id);
      return s && s.tag === tag ? structuredClone(s) : null;
    },

    async touchSession(tag, id, lastSeenAt, expiresAt) {
      const s = sessions.get(id);
      if (!s || s.tag !== tag) return;
      s.lastSeenAt = Math.max(s.lastSeenAt, lastSeenAt);
      s.expiresAt = Math.max(s.expiresAt, Math.min(expiresAt, s.absoluteExpiresAt));
      // Batched: every request slides the idle timeout; losing the last slides only ends it sooner.
      writer.later();
    },

    async deleteSession(tag, id) {
      const s = sessions.get(id);
      if (!s || s.tag !== tag) return false;
      sessions.delete(id);
      // Durable: an ended session (logout, admin) must not come back after a crash.
      await writer.durable();
      return true;
    },

    async listSessions(user, now) {
      return userSessions(user).filter((s) => alive(s, now)).map((s) => structuredClone(s));
    },

    async listAllSessions(now) {
      return [...sessions.values()].filter((s) => alive(s, now)).sort((a, b) => a.createdAt - b.createdAt).map((s) => structuredClone(s));
    },

    async deleteUserSessions(user) {
      const ids = userSessions(user).map((s) => s.id);
      for (const id of ids) sessions.delete(id);
      if (ids.length) await writer.durable();
      return ids;
    },
  };
}

/** Drops expired sessions (the embedded store has no TTLs). */
export function pruneSessions({ sessions, writer }: EmbeddedState, now: number): void {
  let removed = false;
  for (const s of sessions.values()) {
    if (!alive(s, now)) {
      sessions.delete(s.id);
      removed = true;
    }
  }
  // Batched: these sessions have expired, so they are refused after a restart all the same.
  if (removed) writer.later();
}
