/**
 * The Store: all state that must hold across gateway processes (sessions, failed-login counts, locks,
 * local users, site-config overrides) behind one interface with two implementations — Redis
 * (./redis/, shared by many processes) and the embedded store (./embedded/, one process, persisted to
 * disk). Every read-modify-write is one atomic operation here, never a get-then-set in the caller.
 *
 * The interface is the sum of one contract per concern (sessions, regulation, records and accounts,
 * coordination), each in its own file, so that code needing one concern can say so.
 *
 * Stores do not read the clock: callers pass `now` and expiry times, so tests move time instead of
 * sleeping. Redis TTLs are set only as garbage collection, with a margin, and never decide validity.
 */
import type { Coordination } from "./coordination.js";
import type { AccountStore } from "./record-store.js";
import type { RegulationStore } from "./regulation-store.js";
import type { SessionStore } from "./session-store.js";

export type { Coordination, Unsubscribe } from "./coordination.js";
export { type AccountStore, type RecordKind, type RecordStore, recordKind, USER_CHANGED } from "./record-store.js";
export type { FailureState, RegulationStore } from "./regulation-store.js";
export { type CreateSessionResult, type LimitPolicy, type SessionLimit, type SessionRecord, type SessionStore, sessionTag } from "./session-store.js";

/**
 * The store cannot serve now (unreachable, failing over, loading, out of reach of a quorum): callers
 * fail closed with 503 and the same call may succeed later. See ./unavailable.ts for what counts.
 */
export class StoreUnavailableError extends Error {
  readonly code = "ERR_STORE_UNAVAILABLE";
  constructor(cause?: unknown) {
    super("the store is unreachable", cause === undefined ? undefined : { cause });
    this.name = "StoreUnavailableError";
  }
}

export interface Store extends SessionStore, RegulationStore, AccountStore, Coordination {
  readonly kind: "redis" | "embedded";
  /** Drops expired sessions (the embedded store has no TTLs; Redis expires keys by itself). */
  prune(now: number): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
