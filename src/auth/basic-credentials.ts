/**
 * `Authorization: Basic user:password` (scripts, SPEC §7): a login with every rule of one (lockout
 * accounting, the same answer and timing whatever failed), and a short cache of successful
 * verifications so that a script's requests run at session speed. The cache remembers the
 * verification, never the account's state: any change that must end logins is announced on
 * `user-changed` and drops the entry on every process.
 */
import { hash, randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import { audit } from "../log/logger.js";
import type { Exchange } from "../pipeline/stage.js";
import { type Store, USER_CHANGED } from "../store/store.js";
import { failClosed } from "./fail-closed.js";
import { BASIC_FAILED, type Identity } from "./identity.js";
import { splitProvider, type LoginResult, type LoginService } from "./login.js";

export interface BasicCredentialsDeps {
  store: Pick<Store, "getUserVersion" | "subscribe" | "subscriptionEpoch">;
  logins: Pick<LoginService, "login" | "providers">;
  clock: Clock;
  /** How long a verification is remembered (`auth.credentialCacheTtl`); 0: never. */
  cacheTtlMs: number;
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

export class BasicCredentials {
  // The cache key is a SHA-256 under a per-process secret prefix: the password itself is never kept.
  // (One-shot crypto.hash over one string: an HMAC object per request was 5% of a Basic request.)
  private readonly cacheSecret = randomBytes(32).toString("base64");
  private readonly cache = new Map<string, CachedCredential>();
  // Scripts open many connections at once with the same credentials: one verification serves them all.
  private readonly inFlight = new Map<string, Promise<{ result: LoginResult; version: number | undefined }>>();

  constructor(private readonly d: BasicCredentialsDeps) {
    void d.store
      .subscribe(USER_CHANGED, (user) => {
        for (const [k, entry] of this.cache) if (entry.identity.principal.user === user) this.cache.delete(k);
      })
      .catch(() => undefined);
  }

  /**
   * Sets the request's identity from its Basic credentials: without a promise when a recent
   * verification is still known to be current, otherwise after asking the store (fail closed).
   */
  identify(x: Exchange, user: string, password: string): void | Promise<void> {
    // Unambiguous: the name ends at the first colon (parseBasic), as in the header itself.
    const key = hash("sha256", `${this.cacheSecret}\u0000${user}:${password}`, "base64url");
    const cached = this.cache.get(key);
    // While `user-changed` cannot be relied on (subscription down or re-established since), the
    // version is read instead.
    if (cached && cached.until > this.d.clock.now() && cached.epoch !== -1 && cached.epoch === this.d.store.subscriptionEpoch()) {
      x.scope.identity = cached.identity;
      return;
    }
    return failClosed(x, this.verify(x, user, password, key, cached));
  }

  private async verify(x: Exchange, user: string, password: string, key: string, cached: CachedCredential | undefined): Promise<void> {
    const { scope } = x;
    const now = this.d.clock.now();
    if (cached && cached.until > now) {
      if ((await this.d.store.getUserVersion(cached.identity.principal.user)) === cached.version) {
        scope.identity = cached.identity;
        return;
      }
      this.cache.delete(key);
    }
    const epoch = this.d.store.subscriptionEpoch();
    const { result, version } = await this.login(key, user, password, scope.clientIp);
    if (!result.ok || result.mustChange !== null) {
      const reason = result.ok ? `password-change-required:${result.mustChange}` : result.reason;
      audit(scope.log, "login.failed", { user: result.ok ? user : result.user, reason, via: "basic", ip: scope.clientIp, requestId: scope.id });
      scope.identity = BASIC_FAILED;
      return;
    }
    const identity = { kind: "basic", principal: result.principal } as const;
    scope.identity = identity;
    // Remembered only if nothing changed the account while its password was being verified.
    if (this.d.cacheTtlMs > 0 && version !== undefined && (await this.d.store.getUserVersion(result.principal.user)) === version) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { identity, version, epoch, until: now + this.d.cacheTtlMs });
    }
  }

  /** One login for concurrent requests with the same credentials, with the user's version read before it. */
  private login(key: string, user: string, password: string, ip: string): Promise<{ result: LoginResult; version: number | undefined }> {
    let pending = this.inFlight.get(key);
    if (pending) return pending;
    pending = (async () => {
      // Versions belong to the account ("local/admin" is admin); a directory login folds the name to
      // lower case, so both spellings are read before the verification and the one the login used kept.
      const account = splitProvider(user, this.d.logins.providers).user;
      const folded = account.toLowerCase();
      const versions = new Map([[account, await this.d.store.getUserVersion(account)]]);
      if (folded !== account) versions.set(folded, await this.d.store.getUserVersion(folded));
      const result = await this.d.logins.login(user, password, ip);
      return { result, version: result.ok ? versions.get(result.principal.user) : undefined };
    })();
    this.inFlight.set(key, pending);
    pending.finally(() => this.inFlight.delete(key)).catch(() => undefined);
    return pending;
  }
}
