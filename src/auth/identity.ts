/**
 * Who a request is from, as one typed value: the identify phase (./credentials.ts) produces it, the
 * access decision (../policy/decide.ts) and everything after it read it. One value, so that no
 * combination of separate flags can say two things at once.
 */
import type { Principal } from "../sessions/session-service.js";
import { type SessionRecord, StoreUnavailableError } from "../store/store.js";

export type Identity =
  /** No credential, or only cookies naming no live session (`expiredAt`: the first that had timed out). */
  | { readonly kind: "anonymous"; readonly expiredAt?: number }
  /** A live session; `session` is replaced when activity slides it. */
  | { readonly kind: "session"; readonly principal: Principal; readonly session: SessionRecord }
  /** `Authorization: Basic` with a verified password. */
  | { readonly kind: "basic"; readonly principal: Principal }
  /**
   * Nobody signed in and `requireLogin` is false: the guest principal (../policy/guest.ts); where the
   * guest is not let in it is anonymous again, with the timeout it came with.
   */
  | { readonly kind: "guest"; readonly principal: Principal; readonly expiredAt?: number }
  /** A credential was sent and refused (answered 401 with a challenge, never the login page). */
  | { readonly kind: "refused"; readonly reason: "basic-failed" }
  /** The store could not be asked about the credential the request carried (fail closed: 503). */
  | { readonly kind: "store-unavailable" };

export type IdentityKind = Identity["kind"];

export const ANONYMOUS: Identity = Object.freeze({ kind: "anonymous" });
export const BASIC_FAILED: Identity = Object.freeze({ kind: "refused", reason: "basic-failed" });
export const STORE_UNAVAILABLE: Identity = Object.freeze({ kind: "store-unavailable" });

/** The principal of an identity that has one (the guest included). */
export function principalOf(identity: Identity): Principal | undefined {
  return "principal" in identity ? identity.principal : undefined;
}

/** The principal of someone who proved who they are: a session or a credential, never the guest. */
export function signedIn(identity: Identity): Principal | undefined {
  return identity.kind === "session" || identity.kind === "basic" ? identity.principal : undefined;
}

/** The session that authenticated the request, if a session did. */
export function sessionOf(identity: Identity): SessionRecord | undefined {
  return identity.kind === "session" ? identity.session : undefined;
}

/**
 * The identity, for a route that acts on who is signed in: when the store could not tell, the route
 * must not answer as if nobody were (a logout that ends nothing, a 401 to a signed-in admin), so it
 * is a StoreUnavailableError (503), as everywhere else.
 */
export function knownIdentity(identity: Identity): Identity {
  if (identity.kind === "store-unavailable") throw new StoreUnavailableError();
  return identity;
}
