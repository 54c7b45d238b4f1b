/**
 * The guest principal of `requireLogin: false` (SPEC §4): when a local account named `guest` exists and
 * is enabled it lends the guest its roles, otherwise the guest has the role `guest` alone. The account
 * is read at most once per `refreshGuestFrequency`, so a guest request costs no store I/O while the
 * cached guest is fresh.
 */
import type { Accounts, UserRecord } from "../auth/local/accounts.js";
import type { Clock } from "../clock.js";
import type { Site } from "../config/site.js";
import type { Logger } from "../log/logger.js";
import type { Principal } from "../sessions/session-service.js";

export const GUEST: Readonly<Principal> = Object.freeze({ user: "guest", roles: Object.freeze(["guest"]) as string[], provider: "guest" });

/** After a failed read the current guest is kept and the store is asked again after at most this long. */
const RETRY_MS = 60_000;

export interface GuestDeps {
  accounts: Accounts;
  clock: Clock;
  site: () => Site;
  log: Logger;
}

export class GuestPrincipal {
  private principal: Readonly<Principal> = GUEST;
  /** When the account was last asked for (clock time), or null before the first time. */
  private checkedAt: number | null = null;
  private failed = false;
  private reading: Promise<Readonly<Principal>> | null = null;

  constructor(private readonly d: GuestDeps) {}

  /**
   * The guest now: at once while the cached one is fresh, else after one read of the account, which
   * concurrent requests share. Freshness is judged against the `refreshGuestFrequency` in force now.
   */
  get(): Readonly<Principal> | Promise<Readonly<Principal>> {
    if (this.checkedAt !== null) {
      const ttl = this.d.site().refreshGuestFrequencyMs;
      if (this.d.clock.now() < this.checkedAt + (this.failed ? Math.min(ttl, RETRY_MS) : ttl)) return this.principal;
    }
    if (!this.reading) this.reading = this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<Readonly<Principal>> {
    const now = this.d.clock.now();
    try {
      const account = await this.d.accounts.get("guest");
      this.principal = account?.enabled ? this.fromAccount(account) : GUEST;
      this.failed = false;
    } catch (err) {
      // The guest keeps the roles it had: a store outage must neither widen nor narrow guest access.
      this.d.log.warn({ err: (err as Error).message }, "could not read the guest account; the guest keeps its current roles");
      this.failed = true;
    }
    this.checkedAt = now;
    return this.principal;
  }

  private fromAccount(account: UserRecord): Readonly<Principal> {
    // An anonymous visitor is never an administrator, whatever roles the guest account was given.
    if (account.roles.includes("admin")) this.d.log.warn({ user: "guest" }, "the guest account has the admin role; it is not given to anonymous visitors");
    const roles = [...new Set(["guest", ...account.roles.filter((r) => r !== "admin")])];
    return Object.freeze({ user: "guest", roles: Object.freeze(roles) as string[], provider: "guest" });
  }
}
