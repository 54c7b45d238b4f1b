/**
 * The credentials stage: finds out who a request is from — the session cookie, or
 * `Authorization: Basic user:password` (scripts, with lockout accounting and a short cache of
 * successful verifications, SPEC §7) — and records it as the request's Identity (./identity.ts),
 * without deciding whether that is enough (../policy/decide.ts does).
 * The `Authorization` header is consumed here and never forwarded.
 */
import { hash, randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import type { Site } from "../config/site.js";
import { audit } from "../log/logger.js";
import type { Exchange, Stage } from "../pipeline/stage.js";
import { splitCookie } from "../sessions/cookie.js";
import type { SessionService, Validation } from "../sessions/session-service.js";
import { type SessionRecord, type Store, StoreUnavailableError, USER_CHANGED } from "../store/store.js";
import { BASIC_FAILED, STORE_UNAVAILABLE, type Identity } from "./identity.js";
import type { Accounts } from "./local/accounts.js";
import { splitProvider, type LoginResult, type LoginService } from "./login.js";

export interface CredentialsDeps {
  store: Store;
  sessions: SessionService;
  logins: LoginService;
  accounts: Accounts;
  clock: Clock;
  site: () => Site;
  cookieName: string;
  credentialCacheTtlMs: number;
}

interface CachedCredential {
  identity: Identity & { kind: "basic" };
  /** The user's version when the password was verified (store.getUserVersion). */
  version: number;
  /** store.subscriptionEpoch() then; while it holds, `user-changed` messages keep this entry fresh. */
  epoch: number;
  until: number;
}

/** Parses `Basic base64(user:password)`; null for anything else. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function credentialsStage(deps: CredentialsDeps): Stage {
  // The cache key is a SHA-256 under a per-process secret prefix: the password itself is never kept.
  // (One-shot crypto.hash over one string: an HMAC object per request was 5% of a Basic request.)
  const cacheSecret = randomBytes(32).toString("base64");
  const cache = new Map<string, CachedCredential>();

  void deps.store
    .subscribe(USER_CHANGED, (user) => {
      for (const [k, entry] of cache) if (entry.identity.principal.user === user) cache.delete(k);
    })
    .catch(() => undefined);

  // Scripts open many connections at once with the same credentials: one verification serves them all.
  const inFlight = new Map<string, Promise<{ result: LoginResult; version: number | undefined }>>();

  /**
   * A Basic credential verified recently serves the request without a promise when it is still
   * known to be current; otherwise the store is asked (fromBasic).
   */
  function basic(x: Exchange, user: string, password: string): void | Promise<void> {
    // Unambiguous: the name ends at the first colon (parseBasic), as in the header itself.
    const key = hash("sha256", `${cacheSecret}\u0000${user}:${password}`, "base64url");
    const cached = cache.get(key);
    // The verification is remembered, the account's state is not: any change that must end logins
    // (disable, password, roles, lock, logout/all) moves the user's version and is announced on
    // `user-changed`, which drops the entry on every process. While that announcement cannot be
    // relied on (subscription down or re-established since), the version is read instead.
    if (cached && cached.until > deps.clock.now() && cached.epoch !== -1 && cached.epoch === deps.store.subscriptionEpoch()) {
      x.scope.identity = cached.identity;
      return;
    }
    return failClosed(x, fromBasic(x, user, password, key, cached));
  }

  async function fromBasic(x: Exchange, user: string, password: string, key: string, cached: CachedCredential | undefined): Promise<void> {
    const { scope } = x;
    const now = deps.clock.now();
    // Versions belong to the account ("local/admin" is admin); a directory login folds the name to
    // lower case, so both spellings are read before the verification and the one the login used kept.
    const account = splitProvider(user, deps.logins.providers).user;
    const folded = account.toLowerCase();
    if (cached && cached.until > now) {
      if ((await deps.store.getUserVersion(cached.identity.principal.user)) === cached.version) {
        scope.identity = cached.identity;
        return;
      }
      cache.delete(key);
    }
    let pending = inFlight.get(key);
    if (!pending) {
      pending = (async () => {
        const versions = new Map([[account, await deps.store.getUserVersion(account)]]);
        if (folded !== account) versions.set(folded, await deps.store.getUserVersion(folded));
        const result = await deps.logins.login(user, password, scope.clientIp);
        return { result, version: result.ok ? versions.get(result.principal.user) : undefined };
      })();
      inFlight.set(key, pending);
      pending.finally(() => inFlight.delete(key)).catch(() => undefined);
    }
    const epoch = deps.store.subscriptionEpoch();
    const { result, version } = await pending;
    if (!result.ok) {
      audit(scope.log, "login.failed", { user: result.user, reason: result.reason, via: "basic", ip: scope.clientIp, requestId: scope.id });
      scope.identity = BASIC_FAILED;
      return;
    }
    if (result.mustChange !== null) {
      audit(scope.log, "login.failed", { user, reason: `password-change-required:${result.mustChange}`, via: "basic", ip: scope.clientIp, requestId: scope.id });
      scope.identity = BASIC_FAILED;
      return;
    }
    const identity = { kind: "basic", principal: result.principal } as const;
    scope.identity = identity;
    // Remembered only if nothing changed the account while its password was being verified.
    if (deps.credentialCacheTtlMs > 0 && version !== undefined && (await deps.store.getUserVersion(result.principal.user)) === version) {
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { identity, version, epoch, until: now + deps.credentialCacheTtlMs });
    }
  }

  // What a session record gives each of its requests (principal, X-Session-Expires value), made once:
  // records are shared while the session service caches them, so is this.
  const fromRecord = new WeakMap<SessionRecord, { identity: Identity; expires: string }>();

  /**
   * Store work for a request: an unreachable store leaves it unauthenticated and marked (fail closed),
   * unless an earlier cookie value had already authenticated it.
   */
  function failClosed(x: Exchange, work: Promise<void>): Promise<void> {
    return work.catch((err: unknown) => {
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (x.scope.identity.kind === "anonymous") x.scope.identity = STORE_UNAVAILABLE;
    });
  }

  /**
   * What one cookie value's validation gives the request: true when it authenticates it; false when
   * the next value should be tried (none, expired, or a locked session seen in plaintext, which ends).
   */
  function take(x: Exchange, result: Validation): boolean | Promise<boolean> {
    const { scope } = x;
    if (result.kind === "valid" && result.session.encrypted && scope.listener === "insecure") return endExposed(x, result.session).then(() => false);
    if (result.kind === "valid") {
      const s = result.session;
      let known = fromRecord.get(s);
      if (known === undefined) {
        known = {
          identity: { kind: "session", session: s, principal: { user: s.user, roles: s.roles, email: s.email, name: s.name, provider: s.provider } },
          expires: new Date(Math.min(s.expiresAt, s.absoluteExpiresAt)).toISOString(),
        };
        fromRecord.set(s, known);
      }
      scope.identity = known.identity;
      (scope.responseHeaders ??= {})["x-session-expires"] = known.expires;
      return true;
    }
    // The first timeout seen is the one the login page mentions, unless a later value authenticates.
    if (result.kind === "expired" && scope.identity.kind === "anonymous" && scope.identity.expiredAt === undefined) scope.identity = { kind: "anonymous", expiredAt: result.at };
    return false;
  }

  /** A locked (TLS-only) session's cookie arrived in plaintext: it is exposed, so it ends (SPEC §5). */
  async function endExposed(x: Exchange, session: SessionRecord): Promise<void> {
    const { scope } = x;
    await deps.sessions.end({ tag: session.tag, id: session.id });
    audit(scope.log, "credential.exposed", { carried: "session-cookie", user: session.user, listener: "insecure", ip: scope.clientIp, requestId: scope.id });
    audit(scope.log, "session.ended", { user: session.user, reason: "exposed-in-plaintext", requestId: scope.id });
  }

  /** Synchronous unless the store must be asked (Basic, or a session not validated in the last second). */
  function check(x: Exchange): void | Promise<void> {
    const { req } = x;
    // The gateway's session secret is its own business: the upstream gets the other cookies only,
    // whichever credential the request is judged by.
    let cookies: readonly string[] = [];
    if (req.headers.cookie !== undefined) {
      const { values, rest } = splitCookie(req.headers.cookie, deps.cookieName);
      req.headers.cookie = rest;
      cookies = values;
    }
    // Consumed here: the upstream never sees a password (SPEC §7).
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      req.headers.authorization = undefined;
      const credential = parseBasic(authorization);
      if (credential) return basic(x, credential.user, credential.password);
    }
    if (cookies.length === 0) return;
    if (cookies.length > 1 && x.scope.listener === "insecure") return failClosed(x, fromPlaintextCookies(x, cookies));
    return fromCookies(x, cookies, 0);
  }

  /**
   * The cookie sent more than once (a sibling domain tossed its own in front, RFC 6265 §8.6): the
   * first value naming a valid session authenticates the request, so junk in front cannot log the
   * user out. One value that is a cached valid session stays synchronous.
   */
  function fromCookies(x: Exchange, values: readonly string[], from: number): void | Promise<void> {
    for (let i = from; i < values.length; i++) {
      const result = deps.sessions.validate(values[i]!);
      const taken = result instanceof Promise ? result.then((r) => take(x, r)) : take(x, result);
      if (taken === true) return;
      if (taken !== false) return failClosed(x, taken.then((ok) => (ok ? undefined : fromCookies(x, values, i + 1))));
    }
  }

  /**
   * In plaintext (allow mode) every value is looked at, also after one has authenticated the request:
   * each locked session named has had its cookie cross the network in the clear and ends (SPEC §5).
   */
  async function fromPlaintextCookies(x: Exchange, values: readonly string[]): Promise<void> {
    let authenticated = false;
    for (const value of values) {
      const result = await deps.sessions.validate(value);
      if (result.kind === "valid" && result.session.encrypted) await endExposed(x, result.session);
      else if (!authenticated) authenticated = await take(x, result);
    }
  }

  return {
    name: "credentials",
    run(x) {
      const { req } = x;
      // Nothing to look at: stay synchronous (no promise per anonymous request).
      if (req.headers.authorization === undefined && req.headers.cookie === undefined) return;
      return check(x);
    },
  };
}
