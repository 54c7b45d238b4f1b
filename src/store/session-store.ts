/** The part of the Store that keeps login sessions, capped per user, across gateway processes. */
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

/** How many live sessions a user may have (`now` decides which are live), and what a login past that does. */
export interface SessionLimit {
  maxSessions: number;
  policy: LimitPolicy;
  now: number;
}

export type CreateSessionResult = { created: true; evicted: string[] } | { created: false; reason: "limit" };

export interface SessionStore {
  /**
   * Adds a session unless the user already has `maxSessions` live ones (`now` decides liveness);
   * with `evictOldest` the oldest are ended instead and their ids returned.
   */
  createSession(session: SessionRecord, limit: SessionLimit): Promise<CreateSessionResult>;
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
}

/** The Cluster slot tag of a user's sessions: the same for all of them, revealing nothing readable. */
export function sessionTag(user: string): string {
  return createHash("sha256").update(`portcullis-session:${user}`).digest("base64url").slice(0, 12);
}
