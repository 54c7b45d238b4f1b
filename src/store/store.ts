/**
 * The Store: all state that must hold across gateway processes (sessions, failed-login counts, locks,
 * local users, site-config overrides) behind one interface with two implementations — Redis
 * (./redis/, shared by many processes) and the embedded store (./embedded/, one process, persisted to
 * disk). Every read-modify-write is one atomic operation here, never a get-then-set in the caller.
 *
 * Stores do not read the clock: callers pass `now` and expiry times, so tests move time instead of
 * sleeping. Redis TTLs are set only as garbage collection, with a margin, and never decide validity.
 */

import { createHash } from "node:crypto";

export interface SessionRecord {
  /** base64url SHA-256 of the session secret; the secret itself is never stored. */
  id: string;
  /** Groups a user's sessions in one Redis Cluster slot (derived from the user name). */
  tag: string;
  user: string;
  provider: string;
  roles: string[];
  email?: string;
  name?: string;
  createdAt: number;
  lastSeenAt: number;
  /** Idle expiry: lastSeenAt + sessionTimeout, slid by activity. */
  expiresAt: number;
  /** createdAt + session.absoluteTimeout; activity never moves it. */
  absoluteExpiresAt: number;
  /** OMERO's lock: the session may only be used over TLS. */
  encrypted: boolean;
  csrfToken: string;
}

export type LimitPolicy = "refuse" | "evictOldest";

export type CreateSessionResult = { created: true; evicted: string[] } | { created: false; reason: "limit" };

export interface FailureState {
  /** Consecutive failures since the last success, unlock or the end of a lock. */
  failures: number;
  /**
   * When the count reached `maxFailures` (ms since epoch), or null. Whether the account is locked now
   * is decided by the caller against the current settings (they may change live, SPEC §4).
   */
  lockedAt: number | null;
}

export type Unsubscribe = () => void;

export class StoreUnavailableError extends Error {
  readonly code = "ERR_STORE_UNAVAILABLE";
  constructor(cause?: unknown) {
    super("the store is unreachable", cause === undefined ? undefined : { cause });
    this.name = "StoreUnavailableError";
  }
}

export interface Store {
  readonly kind: "redis" | "embedded";

  // --- sessions ---------------------------------------------------------------------------
  /**
   * Adds a session unless the user already has `maxSessions` live ones (`now` decides liveness);
   * with `evictOldest` the oldest are ended instead and their ids returned.
   */
  createSession(session: SessionRecord, limit: { maxSessions: number; policy: LimitPolicy; now: number }): Promise<CreateSessionResult>;
  getSession(tag: string, id: string): Promise<SessionRecord | null>;
  /** Slides the idle expiry; no effect when the session is gone. */
  touchSession(tag: string, id: string, lastSeenAt: number, expiresAt: number): Promise<void>;
  deleteSession(tag: string, id: string): Promise<boolean>;
  /** A user's live sessions at `now`, oldest first. */
  listSessions(user: string, now: number): Promise<SessionRecord[]>;
  /** Every user's live sessions at `now` (local and directory users alike), oldest first. */
  listAllSessions(now: number): Promise<SessionRecord[]>;
  /** Ends every session of a user; returns the ended ids. */
  deleteUserSessions(user: string): Promise<string[]>;

  // --- failed logins ----------------------------------------------------------------------
  /**
   * Counts one failed login for `user`, atomically across processes. When the count reaches
   * `maxFailures` (> 0) the lock starts (`lockedAt = now`); failures during a lock are counted but do
   * not move its start; a failure after a lock has ended (lockedAt + lockMs <= now) starts a new count.
   * A lock starting bumps the user's version (see getUserVersion).
   */
  recordLoginFailure(user: string, now: number, rule: { maxFailures: number; lockMs: number }): Promise<FailureState>;
  getLoginFailures(user: string): Promise<FailureState>;
  /** A success or an unlock: the count and any lock are cleared. */
  clearLoginFailures(user: string): Promise<void>;
  /** Counts one failure from `ip` in a fixed window of `windowMs`; returns the count in the window. */
  countIpFailure(ip: string, now: number, windowMs: number): Promise<number>;
  getIpFailures(ip: string, now: number, windowMs: number): Promise<number>;

  /**
   * A per-user counter that moves whenever the account changes in a way that must end cached logins
   * (disabled, password changed, roles changed, logout/all, a lock starting). Each move is also
   * published on the `user-changed` channel (USER_CHANGED) with the user name as message.
   */
  getUserVersion(user: string): Promise<number>;
  bumpUserVersion(user: string): Promise<void>;
  /**
   * -1 while published messages cannot be received; otherwise a number that changes each time the
   * subscription is (re)established. A cache kept fresh by messages is valid only while this holds
   * the value it had when the entry was made (messages may be lost while disconnected).
   */
  subscriptionEpoch(): number;

  // --- records: local users, site-config overrides, keys ------------------------------------
  getRecord<T>(kind: string, id: string): Promise<T | null>;
  putRecord<T>(kind: string, id: string, value: T): Promise<void>;
  deleteRecord(kind: string, id: string): Promise<boolean>;
  /**
   * Puts and deletes several records of one kind as one change: all of it is stored or none of it
   * (a store that fails half-way leaves nothing half-written).
   */
  writeRecords<T>(kind: string, put: ReadonlyArray<readonly [id: string, value: T]>, remove?: readonly string[]): Promise<void>;
  /**
   * Replaces a record only if it still is `expected` (compared as JSON, as read by getRecord): a
   * compare-and-set, so that a change made meanwhile by another process is never overwritten. False,
   * and nothing written, when the record changed or is gone.
   */
  replaceRecord<T>(kind: string, id: string, expected: T, value: T): Promise<boolean>;
  listRecords<T>(kind: string): Promise<T[]>;

  // --- coordination -----------------------------------------------------------------------
  /** Takes a named lock for `ttlMs` if nobody holds it (one sweep per schedule tick across processes). */
  tryLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;

  /** Drops expired sessions (the embedded store has no TTLs; Redis expires keys by itself). */
  prune(now: number): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The channel on which user-version moves are announced. */
export const USER_CHANGED = "user-changed";

/** The Cluster slot tag of a user's sessions: the same for all of them, revealing nothing readable. */
export function sessionTag(user: string): string {
  return createHash("sha256").update(`portcullis-session:${user}`).digest("base64url").slice(0, 12);
}
