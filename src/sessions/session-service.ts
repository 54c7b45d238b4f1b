/**
 * Sessions: creation under the concurrent-session cap, validation with idle and absolute timeouts,
 * sliding (a step of its own: only requests the access rules do not waive count as activity), and
 * ending — one session, or all of a user's on every process (published to the others, which drop
 * their cached copy and close the session's WebSockets).
 */
import { endsAt } from "./expiry.js";
import type { Clock } from "../clock.js";
import { audit, type Logger } from "../log/logger.js";
import type { LimitPolicy, SessionRecord, Store } from "../store/store.js";
import { endUserSessions, SESSION_ENDED } from "./end-user-sessions.js";
import { newSessionSecret, parseCookieValue, type SessionCredential } from "./ids.js";

export interface Principal {
  user: string;
  roles: string[];
  email?: string;
  /** Display name, when the provider knows one (LDAP `displayName` or `cn`). */
  name?: string;
  provider: string;
}

export type Validation =
  | { kind: "valid"; session: SessionRecord }
  /** The session existed but timed out; `at` is when (for sessionTimeoutMessage). */
  | { kind: "expired"; at: number }
  | { kind: "none" };

export interface SessionServiceOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  idleTimeoutMs: () => number;
  absoluteTimeoutMs: number;
  maxSessions: () => number;
  limitPolicy: LimitPolicy;
  /** How long a validated session may be served from memory; SPEC §6.2 allows at most 1 s. */
  cacheMs?: number;
}

/** A session's last-seen time is written at most this often (one store write per second per session). */
const TOUCH_EVERY_MS = 1_000;

interface CacheEntry {
  session: SessionRecord;
  valid: Validation & { kind: "valid" };
  /** Until when the entry may answer without the store; `slide` never moves it (ended sessions must stop within a second). */
  until: number;
}

export class SessionService {
  /** Validated sessions by cookie value (so a hit costs no hashing), each for at most `cacheMs`. */
  private readonly cache = new Map<string, CacheEntry>();
  /** The cache entry a record came from, so that `slide` keeps the entry current (one write a second). */
  private readonly entryOf = new WeakMap<SessionRecord, CacheEntry>();
  private readonly endedListeners = new Set<(ids: string[]) => void>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: SessionServiceOptions) {}

  /** Listens for sessions ended by any process (logout/all, admin, eviction). */
  async start(): Promise<void> {
    this.unsubscribe = await this.o.store.subscribe(SESSION_ENDED, (message) => {
      const ids = JSON.parse(message) as string[];
      this.forget(ids);
      for (const l of this.endedListeners) l(ids);
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** Called with the ids of sessions ended anywhere (to close their WebSockets). */
  onEnded(listener: (ids: string[]) => void): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  async create(principal: Principal, encrypted: boolean): Promise<{ cookieValue: string; session: SessionRecord } | null> {
    const now = this.o.clock.now();
    const { cookieValue, credential, csrfToken } = newSessionSecret(principal.user);
    const session: SessionRecord = {
      id: credential.id,
      tag: credential.tag,
      user: principal.user,
      provider: principal.provider,
      roles: principal.roles,
      email: principal.email,
      name: principal.name,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: Math.min(now + this.o.idleTimeoutMs(), now + this.o.absoluteTimeoutMs),
      absoluteExpiresAt: now + this.o.absoluteTimeoutMs,
      encrypted,
      csrfToken,
    };
    const result = await this.o.store.createSession(session, { maxSessions: this.o.maxSessions(), policy: this.o.limitPolicy, now });
    if (!result.created) return null;
    if (result.evicted.length > 0) {
      audit(this.o.log, "session.ended", { user: principal.user, reason: "evicted-by-newer-login", count: result.evicted.length });
      await this.announceEnded(result.evicted);
    }
    return { cookieValue, session };
  }

  /**
   * Looks a cookie value up and checks its timeouts against the clock. It does not slide the idle
   * timeout: whether this request counts as activity depends on the access rules (a `bypass` page
   * polled by a public page must not keep a session alive), so the pipeline calls `slide` once it
   * knows. Synchronous when the session was validated less than `cacheMs` ago — the common case
   * under load — so a busy request path costs no promise.
   */
  validate(cookieValue: string): Validation | Promise<Validation> {
    const now = this.o.clock.now();
    const entry = this.cache.get(cookieValue);
    if (entry && entry.until > now) {
      const { session } = entry;
      if (now < endsAt(session)) return entry.valid;
    }
    return this.validateFromStore(cookieValue, now);
  }

  private async validateFromStore(cookieValue: string, now: number): Promise<Validation> {
    const credential = parseCookieValue(cookieValue);
    if (!credential) return { kind: "none" };
    const session = await this.o.store.getSession(credential.tag, credential.id);
    if (!session) {
      this.cache.delete(cookieValue);
      return { kind: "none" };
    }
    const ended = endsAt(session);
    if (now >= ended) {
      this.cache.delete(cookieValue);
      await this.o.store.deleteSession(session.tag, session.id);
      return { kind: "expired", at: ended };
    }
    return this.remember(cookieValue, session, now);
  }

  /**
   * Slides the idle timeout of a session that `validate` returned, for a request that counts as
   * activity, and returns the session as it now stands. The store is written at most once a second
   * per session, in the background: the request was already found valid, and a write that fails
   * (store unreachable) only means the session slides with its next request. Within that second the
   * same record comes back and nothing is allocated.
   */
  slide(session: SessionRecord): SessionRecord {
    const now = this.o.clock.now();
    const entry = this.entryOf.get(session);
    const current = entry?.session ?? session;
    if (now - current.lastSeenAt < TOUCH_EVERY_MS) return current;
    const expiresAt = Math.min(now + this.o.idleTimeoutMs(), current.absoluteExpiresAt);
    const slid: SessionRecord = { ...current, lastSeenAt: now, expiresAt: Math.max(expiresAt, current.expiresAt) };
    if (entry) {
      entry.session = slid;
      entry.valid = { kind: "valid", session: slid };
      this.entryOf.set(slid, entry);
    }
    this.o.store.touchSession(slid.tag, slid.id, now, slid.expiresAt).catch((err: Error) => {
      this.o.log.warn({ err: err.message }, "could not slide a session's idle timeout; its next request will");
    });
    return slid;
  }

  /** Slides the timeout now (`POST /gateway/session/renew`). */
  async renew(session: SessionRecord): Promise<SessionRecord> {
    const now = this.o.clock.now();
    const expiresAt = Math.min(now + this.o.idleTimeoutMs(), session.absoluteExpiresAt);
    await this.o.store.touchSession(session.tag, session.id, now, expiresAt);
    const renewed = { ...session, lastSeenAt: now, expiresAt };
    this.forget([session.id]);
    return renewed;
  }

  /** Ends one session; returns its user's name (audit lines name the user), or null when there was none. */
  async end(credential: SessionCredential): Promise<string | null> {
    const session = await this.o.store.getSession(credential.tag, credential.id);
    const ended = await this.o.store.deleteSession(credential.tag, credential.id);
    await this.announceEnded([credential.id]);
    return ended ? (session?.user ?? null) : null;
  }

  async endAll(user: string): Promise<string[]> {
    const ids = await endUserSessions(this.o.store, user);
    this.forget(ids);
    return ids;
  }

  list(user: string): Promise<SessionRecord[]> {
    return this.o.store.listSessions(user, this.o.clock.now());
  }

  /** Every live session, whichever provider its user came from (local accounts, the directory). */
  listAll(): Promise<SessionRecord[]> {
    return this.o.store.listAllSessions(this.o.clock.now());
  }

  private remember(cookieValue: string, session: SessionRecord, now: number): Validation & { kind: "valid" } {
    const valid = { kind: "valid" as const, session };
    const cacheMs = this.o.cacheMs ?? 1_000;
    if (cacheMs <= 0) return valid;
    if (this.cache.size > 50_000) this.cache.clear();
    const entry: CacheEntry = { session, valid, until: now + cacheMs };
    this.cache.set(cookieValue, entry);
    this.entryOf.set(session, entry);
    return valid;
  }

  /** Drops cached copies of these sessions (ended or changed somewhere). */
  private forget(ids: readonly string[]): void {
    if (ids.length === 0 || this.cache.size === 0) return;
    const gone = new Set(ids);
    for (const [cookie, entry] of this.cache) if (gone.has(entry.session.id)) this.cache.delete(cookie);
  }

  private async announceEnded(ids: string[]): Promise<void> {
    this.forget(ids);
    try {
      await this.o.store.publish(SESSION_ENDED, JSON.stringify(ids));
    } catch (err) {
      // The sessions are gone from the store already; other processes notice within a second.
      this.o.log.warn({ err: (err as Error).message }, "could not announce ended sessions");
    }
  }
}
